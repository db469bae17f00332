//! Sema fed by the front end as it reads ([`crate::syntax::Sink`]): each statement is
//! checked and dropped as soon as the scanner has read it, so a file's AST is never
//! held whole (at 100k rules it was 70 MB, beside the IR made from it). A long block's
//! second half is read and checked on another thread meanwhile ([`Split`]).
//!
//! Invariant: [`check_streamed`] gives what [`super::check`] of the parsed file gives,
//! or `None`. Streaming calls the checker in the order the whole-file check does:
//! declarations, then blocks in file order. So it stops (and the caller reads the file
//! whole) wherever that order would differ: a declaration after a block, or one
//! written inside a block, which the whole-file check declares first; and a block
//! the scanner takes back. What the other thread read is used only where the scanner
//! stands exactly where it began, and only as far as each rule it checked changed
//! nothing but the rule list (no diagnostic, no log, no cgroup, ...): the rules are the
//! ones the calling thread would have made, their counter slots moved up by the rules
//! before them.

use std::{
    mem::MaybeUninit,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, Sender, TryRecvError},
        Arc,
    },
    thread::{Scope, ScopedJoinHandle},
};

use super::{frames::Probes, Block, Checker, LineCursor, Options};
use crate::{
    diag::{Checkpoint, Diagnostic, Span},
    hooks::HookKind,
    ir::{Module, Rule},
    syntax::{
        self,
        ast::{HookHead, Item, Match, Stmt},
    },
};

/// Blocks of at least this many lines are read in two halves, the second on another
/// thread (a thread costs about 0.1 ms; a block of this size about 2 ms to check).
const SPLIT_LINES: usize = 4096;

/// The other thread's rules are kept in lists of this many, each handed over as it
/// fills and freed once moved into the block's list: the two halves' memory is never
/// held twice.
const CHUNK: usize = 4096;

/// The size of a page the kernel faults in ([`fault_in_next`]).
const PAGE: usize = 4096;

/// Pages faulted in between two looks for the other thread's next list (about 0.1 ms).
const FAULT_BATCH_PAGES: usize = 64;

/// A fork copies the file's sets (rules of some hooks look into them): files whose
/// sets have more elements than this are read on one thread.
const FORK_SET_ELEMENTS: usize = 1 << 16;

/// The front end's diagnostics, then sema's, when the scanner read all of `src` into
/// sema; `None` when the file is to be parsed whole and checked then.
pub(crate) fn check_streamed(
    src: &str,
    opts: &Options,
) -> Option<(Vec<Diagnostic>, Option<Module>, Vec<Diagnostic>)> {
    check_split(src, opts, SPLIT_LINES).map(|(out, _)| out)
}

type Streamed = (Vec<Diagnostic>, Option<Module>, Vec<Diagnostic>);

/// [`check_streamed`] splitting blocks of at least `split_lines` lines; also says how
/// many rules the other thread made that were kept.
fn check_split(src: &str, opts: &Options, split_lines: usize) -> Option<(Streamed, usize)> {
    std::thread::scope(|scope| {
        let mut stream = Stream {
            c: Checker::new(src, opts),
            block: None,
            blocks_begun: false,
            stopped: false,
            split: Split {
                scope,
                lines: split_lines,
                helper: None,
                taken: 0,
            },
        };
        let parse_diags = syntax::stream_with(src, &opts.limits, &mut stream);
        stream.split.cancel();
        let taken = stream.split.taken;
        let (module, diags) = stream.c.finish();
        Some(((parse_diags?, module, diags), taken))
    })
}

struct Stream<'a, 'scope, 'env> {
    c: Checker<'a>,
    block: Option<Block>,
    /// A block came: a declaration now would be declared after it.
    blocks_begun: bool,
    stopped: bool,
    split: Split<'a, 'scope, 'env>,
}

/// The second half of a long block, read on another thread.
struct Split<'a, 'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    /// Blocks of at least this many lines are split.
    lines: usize,
    helper: Option<Helper<'a, 'scope>>,
    /// Rules the other thread made that were kept (for the tests).
    taken: usize,
}

struct Helper<'a, 'scope> {
    /// Where its reading began.
    at: usize,
    stop: Arc<AtomicBool>,
    /// Its rules in lists of [`CHUNK`], each sent as it fills.
    chunks: Receiver<Vec<Rule>>,
    /// The lists, emptied, back to it to fill again: freed here while it reads, they
    /// were handed back to the kernel on its side (`madvise`, each a round of TLB
    /// shootdowns across both cores) and new ones faulted in.
    emptied: Sender<Vec<Rule>>,
    handle: ScopedJoinHandle<'scope, Ahead<'a>>,
}

/// What the other thread read: its last rules (fewer than a [`CHUNK`]: the lists
/// before were sent as they filled), counter slots numbered from 0 over all of them;
/// where it stopped; its line cursor, there.
struct Ahead<'a> {
    rest: Vec<Rule>,
    /// What they decide of the lockout check's probes, as if first in the block.
    probes: Probes,
    end: usize,
    lines: LineCursor<'a>,
}

impl Split<'_, '_, '_> {
    /// The other thread, if any, stops reading; what it read is not used.
    fn cancel(&mut self) {
        if let Some(h) = self.helper.take() {
            h.stop.store(true, Ordering::Relaxed);
        }
    }
}

impl<'a: 'scope, 'scope, 'env> Stream<'a, 'scope, 'env> {
    /// Starts reading the block begun last from `at` on another thread.
    fn fork(&mut self, at: usize) -> bool {
        let (Some(b), Some(h)) = (&self.block, self.c.fork()) else {
            return false;
        };
        let (kind, stop) = (b.kind, Arc::new(AtomicBool::new(false)));
        let (flag, (sent, chunks)) = (stop.clone(), mpsc::channel());
        let (emptied, to_fill) = mpsc::channel();
        let lists = Lists { sent, to_fill };
        let done = self.c.opts.on_second_core_free.clone();
        let work = move || {
            let ahead = read_ahead(h, kind, at, &flag, lists);
            if let Some(hook) = done {
                (hook.0)();
            }
            ahead
        };
        let spawned = std::thread::Builder::new().spawn_scoped(self.split.scope, work);
        let Ok(handle) = spawned else {
            return false;
        };
        self.split.helper = Some(Helper {
            at,
            stop,
            chunks,
            emptied,
            handle,
        });
        true
    }

    /// The other thread's rules into the block, when the scanner stands at `at`
    /// where it began: their counter slots moved up by the slots given so far. The
    /// lists it has filled are moved while it reads on, the pages they go to faulted
    /// in while none is ready: the move of its ~50,000 rules onto 8 MB of fresh pages
    /// after it ended was the largest part of the calling thread's time alone at 100k
    /// rules (docs/benchmarks.md, "the front end's serial tail").
    fn take_ahead(&mut self, at: usize) -> Option<usize> {
        let helper = self.split.helper.take()?;
        let Some(b) = self.block.as_mut().filter(|_| helper.at == at) else {
            helper.stop.store(true, Ordering::Relaxed);
            return None;
        };
        let base = self.c.counter;
        let mut moved = 0;
        let mut faulted = 0;
        loop {
            let mut chunk = match helper.chunks.try_recv() {
                Ok(chunk) => chunk,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => match fault_in_next(&mut b.rules, faulted) {
                    Some(next) => {
                        faulted = next;
                        continue;
                    }
                    None => match helper.chunks.recv() {
                        Ok(chunk) => chunk,
                        Err(_) => break,
                    },
                },
            };
            moved += move_rules(&mut b.rules, &mut chunk, base);
            // Refused once it has ended: the list is freed then.
            let _ = helper.emptied.send(chunk);
        }
        let ahead = match helper.handle.join() {
            Ok(ahead) => ahead,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        // It sends a list only once it has read a rule.
        if ahead.end == at {
            return None;
        }
        let mut rest = ahead.rest;
        moved += move_rules(&mut b.rules, &mut rest, base);
        self.c.counter += moved;
        self.split.taken += moved as usize;
        b.probes = b.probes.then(ahead.probes);
        self.c.lines = ahead.lines;
        Some(ahead.end)
    }
}

/// The other thread's `rules` onto the end of the block's `list` (`rules` left
/// empty), their counter slots (numbered from 0 on that thread) moved up by `base`;
/// how many.
fn move_rules(list: &mut Vec<Rule>, rules: &mut Vec<Rule>, base: u32) -> u32 {
    let n = rules.len();
    list.extend(rules.drain(..).map(|mut r| {
        r.counter += base;
        if let Some(l) = r.m.limit_mut() {
            l.slot += base;
        }
        r
    }));
    u32::try_from(n).expect("a list of CHUNK rules")
}

/// Writes the next [`FAULT_BATCH_PAGES`] pages of `rules`' spare room, from slot
/// `from` (or its first spare slot, if later), for the first time: the other
/// thread's rules are moved there next. Returns where the next batch begins; `None`
/// once the room is all written. Every page is used by the block's list whoever
/// reads its rules (the room is as many slots as the block has lines).
fn fault_in_next(rules: &mut Vec<Rule>, from: usize) -> Option<usize> {
    // One slot in each page-sized stride writes a byte of every page.
    let stride = (PAGE / std::mem::size_of::<Rule>()).max(1);
    let len = rules.len();
    let start = from.saturating_sub(len);
    let room = rules.spare_capacity_mut().get_mut(start..)?;
    if room.is_empty() {
        return None;
    }
    let batch = room.len().min(stride * FAULT_BATCH_PAGES);
    let pages = &mut room[..batch];
    for slot in pages.iter_mut().step_by(stride) {
        *slot = MaybeUninit::zeroed();
    }
    std::hint::black_box(pages);
    Some(len + start + batch)
}

/// The other thread's ends of the two channels of its lists of rules.
struct Lists {
    /// Where a list goes once full.
    sent: Sender<Vec<Rule>>,
    /// Lists the calling thread emptied, to fill again.
    to_fill: Receiver<Vec<Rule>>,
}

/// The other thread's work: the block's statements from `at` checked as the calling
/// thread checks them (counter slots from 0), while each is a rule that checks without
/// changing anything of `h` but its line cursor ([`Checker::state`]).
fn read_ahead<'a>(
    mut h: Checker<'a>,
    kind: HookKind,
    at: usize,
    stop: &AtomicBool,
    lists: Lists,
) -> Ahead<'a> {
    let spec = kind.block_spec();
    let mut rules: Vec<Rule> = Vec::with_capacity(CHUNK);
    let mut probes = Probes::default();
    let mut n = 0u32;
    let src = h.src;
    let end = syntax::scan_stmts(src, at, &mut |st, spare| {
        let Stmt::Rule(r) = st else {
            return false;
        };
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let before = h.state();
        let rule = h.rule(&r, spec, n);
        *spare = super::emptied(r.matches);
        let Some(rule) = rule else {
            return false;
        };
        if h.state() != before {
            return false;
        }
        if spec.caps.frames {
            h.note_probes(&mut probes, &rule);
        }
        rules.push(rule);
        if rules.len() == CHUNK {
            let next = lists.to_fill.try_recv();
            let next = next.unwrap_or_else(|_| Vec::with_capacity(CHUNK));
            // Refused only once the calling thread gave up on this read (it stops next).
            let _ = lists.sent.send(std::mem::replace(&mut rules, next));
        }
        n += 1;
        true
    });
    Ahead {
        rest: rules,
        probes,
        end,
        lines: h.lines,
    }
}

/// What a rule's check could change in a [`Checker`] besides the rule it gives and
/// its line cursor: a rule the other thread keeps changed none of it.
#[derive(PartialEq, Eq)]
struct State {
    diags: Checkpoint,
    counts: [usize; 11],
    ct_warned: bool,
    counter: u32,
    elements: (u64, u64),
}

impl<'a> Checker<'a> {
    fn state(&self) -> State {
        let m = &self.module;
        State {
            diags: self.diags.checkpoint(),
            counts: [
                m.sets.len(),
                m.sockets.len(),
                m.programs.len(),
                m.sockmaps.len(),
                m.registrars.len(),
                m.logs.len(),
                m.cgroups.len(),
                self.sets.len(),
                self.sockets.len(),
                self.refused_sockets.len() + self.self_registered.len(),
                self.seen_hooks.len() + usize::from(m.residual.is_some()),
            ],
            ct_warned: self.ct_warned,
            counter: self.counter,
            elements: (self.set_elements, self.set_file_bytes),
        }
    }

    /// A checker for another thread that checks rules as this one would now: the
    /// declarations copied, nothing else. `None` when the sets are too large to copy.
    fn fork(&self) -> Option<Checker<'a>> {
        let m = &self.module;
        let elements: usize = m.sets.values().map(|s| s.v4.len() + s.v6.len()).sum();
        if elements > FORK_SET_ELEMENTS {
            return None;
        }
        let mut h = Checker::new(self.src, self.opts);
        h.module = Module {
            sets: m.sets.clone(),
            sockets: m.sockets.clone(),
            answers: m.answers,
            residual: m.residual.clone(),
            cgroups: m.cgroups.clone(),
            ..Module::default()
        };
        h.sets = self.sets.clone();
        h.sockets = self.sockets.clone();
        h.refused_sockets = self.refused_sockets.clone();
        h.ct_warned = self.ct_warned;
        (h.set_elements, h.set_file_bytes) = (self.set_elements, self.set_file_bytes);
        Some(h)
    }
}

impl<'a: 'scope, 'scope> syntax::Sink for Stream<'a, 'scope, '_> {
    fn item(&mut self, item: Item) {
        match item {
            Item::Hook(h) => {
                let declares = h.stmts.iter().any(|s| matches!(s, Stmt::Decl(_)));
                if declares {
                    self.stopped = true;
                    return;
                }
                self.blocks_begun = true;
                self.c.whole_block(h);
            }
            _ if self.blocks_begun => self.stopped = true,
            decl => self.c.declare(&decl),
        }
    }

    fn block(&mut self, head: HookHead, head_span: Span, stmts: usize) {
        self.blocks_begun = true;
        self.block = Some(self.c.begin_block(&head, head_span, stmts));
    }

    fn stmt(&mut self, stmt: Stmt, spare: &mut Vec<Match>) {
        match (&mut self.block, stmt) {
            (_, Stmt::Decl(_)) | (None, _) => self.stopped = true,
            (Some(b), stmt) => self.c.block_stmt(b, stmt, spare),
        }
    }

    fn block_end(&mut self, span: Span) {
        self.split.cancel();
        match self.block.take() {
            Some(b) => self.c.end_block(b, span, true),
            None => self.stopped = true,
        }
    }

    fn take_back(&mut self) {
        self.split.cancel();
        self.stopped = true;
    }

    fn long_block(&mut self, at: usize, lines: usize) -> bool {
        lines >= self.split.lines && self.fork(at)
    }

    fn taken_to(&mut self, at: usize) -> Option<usize> {
        self.take_ahead(at)
    }

    fn stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use sockc_testkit::rng::Rng;

    use super::*;

    /// The streamed check against the whole-file one: the same module (every field)
    /// and the same diagnostics, or no stream at all. True when it streamed.
    fn assert_same(name: &str, src: &str, opts: &Options) -> bool {
        assert_same_split(name, src, opts, SPLIT_LINES).is_some()
    }

    /// [`assert_same`] splitting blocks of `split_lines` lines or more: how many rules
    /// the other thread made that were kept, when it streamed.
    fn assert_same_split(
        name: &str,
        src: &str,
        opts: &Options,
        split_lines: usize,
    ) -> Option<usize> {
        let ((mut parse_diags, module, sema_diags), taken) = check_split(src, opts, split_lines)?;
        let (file, mut whole_diags) = syntax::parse(src);
        let (whole_module, whole_sema) = super::super::check(file, src, opts);
        whole_diags.extend(whole_sema);
        parse_diags.extend(sema_diags);
        let whole = (format!("{whole_module:?}"), format!("{whole_diags:?}"));
        let streamed = (format!("{module:?}"), format!("{parse_diags:?}"));
        if whole != streamed {
            let (w, t) = (format!("{whole:#?}"), format!("{streamed:#?}"));
            let at = w
                .lines()
                .zip(t.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let around = |x: &str| {
                x.lines()
                    .skip(at.saturating_sub(5))
                    .take(8)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "{name}: streamed and whole-file sema differ\nwhole:\n{}\nstreamed:\n{}",
                around(&w),
                around(&t)
            );
        }
        Some(taken)
    }

    fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else if p.extension().is_some_and(|x| x == "sk") {
                out.push(p);
            }
        }
    }

    /// Every rule file of `rules/` and `golden/`, checked with the file's own
    /// directory as the base of its set files.
    fn rule_files() -> Vec<(PathBuf, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut paths = Vec::new();
        files_under(&root.join("rules"), &mut paths);
        files_under(&root.join("golden"), &mut paths);
        paths.sort();
        let files: Vec<_> = paths
            .into_iter()
            .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?)))
            .collect();
        assert!(
            files.len() >= 50,
            "rules/ not found under {}",
            root.display()
        );
        files
    }

    fn opts_for(path: &Path) -> Options {
        Options {
            base_dir: path.parent().map(Path::to_path_buf),
            ..Default::default()
        }
    }

    #[test]
    fn every_rule_file_checks_the_same_streamed() {
        let files = rule_files();
        let streamed = files
            .iter()
            .filter(|(p, src)| assert_same(&p.display().to_string(), src, &opts_for(p)))
            .count();
        // Most files stream; the others are read whole (what is counted here is that
        // the fallback is the exception, not the rule).
        assert!(
            streamed * 10 >= files.len() * 8,
            "{streamed} of {} streamed",
            files.len()
        );
    }

    /// Lines of rule files moved, doubled and dropped: declarations after blocks,
    /// blocks cut short, statements outside blocks.
    #[test]
    fn shuffled_rule_files_check_the_same_streamed() {
        let files = rule_files();
        let mut rng = Rng::seeded(50);
        let (mut streamed, mut whole) = (0, 0);
        for _ in 0..400 {
            let (path, src) = rng.pick(&files);
            let mut lines: Vec<&str> = src.lines().collect();
            for _ in 0..1 + rng.below(3) {
                let (from, to) = (rng.below(lines.len() + 1), rng.below(lines.len() + 1));
                match rng.below(3) {
                    0 if from < lines.len() => {
                        let l = lines.remove(from);
                        lines.insert(to.min(lines.len()), l);
                    }
                    1 if from < lines.len() => lines.insert(to, lines[from]),
                    _ if from < lines.len() => drop(lines.remove(from)),
                    _ => {}
                }
            }
            let text = lines.join("\n");
            match assert_same(&path.display().to_string(), &text, &opts_for(&path)) {
                true => streamed += 1,
                false => whole += 1,
            }
        }
        assert!(
            streamed > 100 && whole > 10,
            "streamed {streamed}, whole {whole}"
        );
    }

    #[test]
    fn what_would_change_the_order_is_read_whole() {
        let opts = Options::default();
        let cases = [
            // A set declared after the block that uses it.
            "xdp on eth0 {\n drop from @a\n default allow\n}\nset a = { 10.0.0.1 }\n",
            // A declaration inside a block (reported, declared all the same).
            "xdp on eth0 {\n set a = { 10.0.0.1 }\n drop from @a\n default allow\n}\n",
            // A block that never closes.
            "xdp on eth0 {\n drop from 10.0.0.1\n default allow\n",
            // Text after a block's `}`.
            "xdp on eth0 {\n drop from 10.0.0.1\n default allow\n} x\n",
        ];
        for src in cases {
            assert!(check_streamed(src, &opts).is_none(), "streamed: {src:?}");
        }
        // Declarations before blocks, a block pest reads and one the scanner reads.
        let src = "set a = { 10.0.0.1 }\nnetfilter input {\n drop from @a\n default allow\n}\nxdp on eth0 {\n drop from @a\n default allow\n}\n";
        assert!(assert_same("declarations first", src, &opts));
    }

    /// A ClassBench filter set converted to a rule file (one block of `n` rules).
    fn classbench(set: &str, n: usize) -> String {
        sockc_testkit::classbench::vendored_1k_sk(set, n)
    }

    #[test]
    fn long_blocks_check_the_same_split() {
        for set in ["acl1", "fw1", "ipc1"] {
            let src = classbench(set, 1000);
            let rules = src.lines().filter(|l| l.starts_with("  ")).count();
            let taken = assert_same_split(set, &src, &Options::default(), 64);
            // The split is a byte's middle: the other thread reads about half.
            let taken = taken.unwrap_or_else(|| panic!("{set}: not streamed"));
            assert!(
                taken * 3 > rules && taken * 3 < rules * 2,
                "{set}: {taken} of {rules} rules read on the other thread"
            );
        }
    }

    /// `on_second_core_free` is called once, on the other thread once it is done,
    /// where a long block is split; never where none is.
    #[test]
    fn the_second_core_free_hook_is_called_once_where_a_block_is_split() {
        use std::sync::{atomic::AtomicUsize, Mutex};
        let calls = Arc::new(AtomicUsize::new(0));
        let on = Arc::new(Mutex::new(Vec::new()));
        let (c, o) = (Arc::clone(&calls), Arc::clone(&on));
        let opts = Options {
            on_second_core_free: Some(super::super::Hook(Arc::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
                o.lock().unwrap().push(std::thread::current().id());
            }))),
            ..Options::default()
        };
        let src = classbench("acl1", 1000);
        assert!(assert_same_split("acl1", &src, &opts, 64).is_some_and(|n| n > 0));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "once, for the one block split"
        );
        assert_ne!(
            on.lock().unwrap()[0],
            std::thread::current().id(),
            "on the other thread"
        );
        let short = "xdp on lo {\n  drop ip4 tcp to 10.0.0.1:22\n  default allow\n}\n";
        assert_same_split("short", short, &opts, 64);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "no call where no block is split"
        );
    }

    /// Lines that stop the other thread (a diagnostic, a log, a statement pest
    /// reads, a second `default`, a declaration in a block) or only move where lines
    /// begin (comments, blank lines, two statements on one line).
    const ODD_LINES: &[&str] = &[
        "  drop ip4 tcp from @nope to 10.0.0.1:80",
        "  drop ip4 tcp from 10.0.0.1 to 10.0.0.2:99999",
        "  drop ip4 udp to 10.0.0.3:53 log",
        "  allow ip4 tcp to 10.0.0.4:22 log 5/s",
        "  count ip4 tcp to 10.0.0.5:443 log",
        "  drop ip4 tcp to 10.0.0.6:22 ct state new",
        "  redirect ip4 tcp to 10.0.0.7:80 to sock nope",
        "  drop ip4 tcp from 10.0.0.0/33",
        "  drop ip4 tcp from 10.0.0.1 to 10.0.0.2:80 # a comment",
        "  # a comment line",
        "",
        "  drop ip4 udp to 10.0.0.8:53; allow ip4 udp to 10.0.0.9:53",
        "  default allow",
        "  set s = { 10.0.0.1 }",
        "  bogus words here",
        "  drop ip4 tcp from 10.0.0.1 to 10.0.0.2:80 limit 5/s",
        // A warning on a rule that checks (and the scanner reads itself).
        "  drop ip6 tcp from 2001:db8::1:53 to 2001:db8::2",
        // Rules that let the lockout check's probes through (the blocks drop by
        // default): either half's, or neither's, decide its warning.
        "  allow arp",
        "  allow icmpv6",
    ];

    /// A block of ClassBench rules with odd lines put in at random, errors in
    /// either half and across the middle: the same module and diagnostics split and
    /// whole (including past the diagnostics limit: some files have many errors).
    #[test]
    fn long_blocks_with_odd_lines_check_the_same_split() {
        let base = classbench("acl1", 400);
        let lines: Vec<&str> = base.lines().collect();
        let mut rng = Rng::seeded(6);
        let (mut split, mut with_errors, mut cut_short) = (0, 0, 0);
        let opts = Options::default();
        for case in 0..150 {
            let mut block = lines.clone();
            let odd = 1 + rng.below(if case % 10 == 0 { 120 } else { 6 });
            for _ in 0..odd {
                // Half of them near the middle, where the other thread begins.
                let at = match rng.below(2) {
                    0 => block.len() / 2 - 8 + rng.below(16),
                    _ => 6 + rng.below(block.len() - 8),
                };
                block.insert(at, ODD_LINES[rng.below(ODD_LINES.len())]);
            }
            let text = block.join("\n");
            let Some(taken) = assert_same_split(&format!("case {case}"), &text, &opts, 64) else {
                continue;
            };
            let (_, diags) = super::super::check(syntax::parse(&text).0, &text, &opts);
            split += usize::from(taken > 0);
            with_errors += usize::from(taken > 0 && !diags.is_empty());
            cut_short += usize::from(taken > 0 && taken < 150);
        }
        assert!(
            split > 60 && with_errors > 20 && cut_short > 10,
            "split {split}, with errors {with_errors}, cut short {cut_short}"
        );
    }

    /// A block long enough that the other thread fills and hands over several lists
    /// of [`CHUNK`] rules before it ends, once reading to the end and once stopped by
    /// a rule with a diagnostic after its second list: the same module (counter slots
    /// moved up across the lists) and diagnostics as the whole-file check.
    #[test]
    fn the_other_threads_lists_are_taken_whole_and_in_order() {
        let rules = 6 * CHUNK + 100;
        let line = |i: usize| {
            let (a, b) = (i / 256 % 256, i % 256);
            format!(
                "  drop ip4 tcp from 10.{a}.{b}.1 to 10.0.0.2:{}\n",
                1 + i % 9000
            )
        };
        let body: Vec<String> = (0..rules).map(line).collect();
        let block =
            |body: &[String]| format!("xdp on eth0 {{\n{}  default allow\n}}\n", body.concat());
        let whole = assert_same_split("lists", &block(&body), &Options::default(), 64);
        let taken = whole.expect("streamed");
        assert!(
            taken > 2 * CHUNK,
            "{taken} rules taken from the other thread"
        );
        // A rule with an error a few lists into the other thread's half.
        let mut stopped = body.clone();
        stopped.insert(
            rules / 2 + 2 * CHUNK + 500,
            "  drop ip4 tcp from 10.0.0.0/33\n".into(),
        );
        let taken = assert_same_split("stopped", &block(&stopped), &Options::default(), 64);
        let taken = taken.expect("streamed");
        assert!(
            taken > 2 * CHUNK && taken < 3 * CHUNK,
            "{taken} rules taken from the other thread"
        );
    }

    /// A long block the stream gives up on after the other thread began: a set
    /// declared in it over lines across the middle (where the other thread begins,
    /// inside the set), or text after its `}`. The file is then read whole.
    #[test]
    fn a_long_block_given_up_is_read_whole() {
        let rules = |from: usize, n: usize| -> String {
            (from..from + n)
                .map(|i| format!("  drop ip4 tcp from 10.0.{i}.1 to 10.0.0.2:80\n"))
                .collect()
        };
        let set: String = (0..60).map(|i| format!("    10.1.{i}.0/24\n")).collect();
        let decl = format!(
            "xdp on eth0 {{\n{}  set s = {{\n{set}  }}\n{}  default allow\n}}\n",
            rules(0, 70),
            rules(70, 10)
        );
        let after = format!("xdp on eth0 {{\n{}  default allow\n}} x\n", rules(0, 200));
        for (name, src) in [("declaration", decl), ("text after", after)] {
            assert_eq!(assert_same_split(name, &src, &Options::default(), 64), None);
        }
    }
}
