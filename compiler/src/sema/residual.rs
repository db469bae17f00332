//! The `residual` declaration: the netfilter ruleset an import left beside the file's
//! netfilter blocks. Its file is found as a set file is (relative to the rule file,
//! in its directory tree or a `--set-dir` tree, opened beneath it: `sets/file.rs`), read
//! within the rule-file size limit, and carried whole in the IR and the object's
//! metadata, so that `sockc apply` installs the text `check` saw. What the text means
//! (that nft or iptables would load it, and that it is sockc's) is the CLI's to check,
//! with the import's readers: the compiler knows no netfilter syntax.
//!
//! Invariant: a module has at most one residual, its mark one bit.

use super::Checker;
use crate::{
    diag::{quote, Code, Diagnostic},
    input::{read_open, utf8},
    ir::Residual,
    limits::Limit,
    syntax::ast::ResidualDecl,
};

impl Checker<'_> {
    pub(super) fn declare_residual(&mut self, r: &ResidualDecl) {
        if let Some(first) = &self.module.residual {
            self.diags.push(
                Diagnostic::new(Code::Residual, "a second `residual` declaration")
                    .label(r.span, "second one")
                    .label(first.span, "first one")
                    .help("one rule file has one residual: the ruleset it was imported from"),
            );
            return;
        }
        if r.mark.count_ones() != 1 {
            self.diags.push(
                Diagnostic::new(
                    Code::Residual,
                    format!("the residual's mark {:#x} is not one bit", r.mark),
                )
                .label(r.mark_span, "one bit, such as 0x80000000")
                .help("the residual sets this bit on what it decided; each netfilter block lets such packets through first"),
            );
            return;
        }
        let refuse = |c: &mut Self, why: String| {
            c.diags.push(
                Diagnostic::new(
                    Code::Residual,
                    format!("cannot read residual file \"{}\": {why}", quote(&r.path)),
                )
                .label(r.path_span, "this file"),
            );
        };
        let file = match self.open_set_file(&r.path) {
            Ok((f, _)) => f,
            Err(why) => return refuse(self, why),
        };
        let text = match read_open(file, Limit::SourceBytes, self.opts.limits.source_bytes)
            .map_err(|e| e.to_string())
            .and_then(|b| utf8(b).map_err(|e| e.to_string()))
        {
            Ok(t) => t,
            Err(why) => return refuse(self, why),
        };
        self.module.residual = Some(Residual {
            format: r.format,
            path: r.path.clone(),
            text,
            mark: r.mark,
            span: r.span,
        });
    }
}
