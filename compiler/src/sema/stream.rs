//! Sema fed by the front end as it reads ([`crate::syntax::Sink`]): each statement is
//! checked and dropped as soon as the scanner has read it, so a file's AST is never
//! held whole (at 100k rules it was 70 MB, beside the IR made from it).
//!
//! Invariant: [`check_streamed`] gives what [`super::check`] of the parsed file gives,
//! or `None`. Streaming calls the checker in the order the whole-file check does:
//! declarations, then blocks in file order. So it stops (and the caller reads the file
//! whole) wherever that order would differ: a declaration after a block, or one
//! written inside a block, which the whole-file check declares first; and a block
//! the scanner takes back.

use super::{Block, Checker, Options};
use crate::{
    diag::{Diagnostic, Span},
    ir::Module,
    syntax::{
        self,
        ast::{HookHead, Item, Stmt},
    },
};

/// The front end's diagnostics, then sema's, when the scanner read all of `src` into
/// sema; `None` when the file is to be parsed whole and checked then.
pub(crate) fn check_streamed(
    src: &str,
    opts: &Options,
) -> Option<(Vec<Diagnostic>, Option<Module>, Vec<Diagnostic>)> {
    let mut stream = Stream {
        c: Checker::new(src, opts),
        block: None,
        blocks_begun: false,
        stopped: false,
    };
    let parse_diags = syntax::stream_with(src, &opts.limits, &mut stream)?;
    let (module, diags) = stream.c.finish();
    Some((parse_diags, module, diags))
}

struct Stream<'a> {
    c: Checker<'a>,
    block: Option<Block>,
    /// A block came: a declaration now would be declared after it.
    blocks_begun: bool,
    stopped: bool,
}

impl syntax::Sink for Stream<'_> {
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

    fn stmt(&mut self, stmt: Stmt) {
        match (&mut self.block, stmt) {
            (_, Stmt::Decl(_)) | (None, _) => self.stopped = true,
            (Some(b), stmt) => self.c.block_stmt(b, stmt),
        }
    }

    fn block_end(&mut self, span: Span) {
        match self.block.take() {
            Some(b) => self.c.end_block(b, span, true),
            None => self.stopped = true,
        }
    }

    fn take_back(&mut self) {
        self.stopped = true;
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
        let Some((mut parse_diags, module, sema_diags)) = check_streamed(src, opts) else {
            return false;
        };
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
        true
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
}
