//! Set declarations: inline lists and `file` sets, their kind (addresses or ports),
//! and the set lints (empty, mixed, duplicate or overlapping elements).
//!
//! Where a set file may come from (docs/language.md, "Set files"): its path is
//! relative to the rule file's directory (an absolute path is taken as it is), and
//! the file it names — after `..` and symbolic links — must lie in the rule file's
//! directory tree or in a tree allowed with `--set-dir`; anything else is refused
//! before it is opened (a path that leaves the tree by its text is never even looked
//! up). Invariant: no diagnostic quotes a line of a file outside the rule file's own
//! tree; it says which line and why, not what the line holds.

use std::path::{Component, Path, PathBuf};

use ipnet::IpNet;

use super::{Checker, SetKind};
use crate::{
    diag::{quote, Diagnostic, Severity, Span},
    input::{read_bounded, utf8, InputError},
    ir::AddrSet,
    limits::{amount, Limit},
    syntax::ast::{SetBody, SetDecl, SetElem},
};

/// One element with where it came from (a span in the rule file; for file sets the
/// `file "..."` span plus the line in that file).
struct Elem {
    value: SetElem,
    span: Span,
    file_line: Option<usize>,
}

/// Where a set file may be read from, decided before anything is opened.
enum Placement {
    /// In the rule file's tree: its lines may be quoted.
    Own(PathBuf),
    /// In a `--set-dir` tree: read, never quoted.
    Allowed(PathBuf),
}

/// `path` with `.` and `..` taken out by their text (no file system access).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

impl Checker<'_> {
    pub(crate) fn declare_set(&mut self, s: &SetDecl) {
        if let Some((_, prev)) = self.sets.get(&s.name.name) {
            let prev = *prev;
            self.diags.push(
                Diagnostic::error(
                    "sockc::duplicate-name",
                    format!("set `{}` is declared twice", quote(&s.name.name)),
                )
                .label(s.name.span, "declared again here")
                .label(prev, "first declared here"),
            );
            return;
        }
        let kind = self.set_contents(s).unwrap_or(SetKind::Broken);
        self.sets.insert(s.name.name.clone(), (kind, s.name.span));
    }

    /// The set's elements, checked (not empty, within the element limit, all of one
    /// kind) and linted (duplicates, overlaps); `None` after an error.
    fn set_contents(&mut self, s: &SetDecl) -> Option<SetKind> {
        let elems = match &s.body {
            SetBody::List(l) => l
                .iter()
                .map(|e| Elem {
                    value: e.clone(),
                    span: e.span(),
                    file_line: None,
                })
                .collect::<Vec<_>>(),
            SetBody::File { path, span } => self.read_set_file(path, *span)?,
        };
        self.check_set_size(s, &elems)?;
        if self.set_kind_is_addr(s, &elems)? {
            Some(self.address_set(s, &elems))
        } else {
            Some(self.port_set(s, &elems))
        }
    }

    /// A set must have elements, and the sets of a file together at most the set
    /// element limit.
    fn check_set_size(&mut self, s: &SetDecl, elems: &[Elem]) -> Option<()> {
        if elems.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "sockc::empty-set",
                    format!("set `{}` is empty", quote(&s.name.name)),
                )
                .label(s.span, "no elements")
                .help(
                    "a rule using an empty set could never match; remove the set or add elements",
                ),
            );
            return None;
        }
        let max = self.opts.limits.set_elements;
        let before = self.set_elements;
        self.set_elements = before.saturating_add(elems.len() as u64);
        if self.set_elements <= max {
            return Some(());
        }
        let whose = if before == 0 {
            format!("set `{}` has", quote(&s.name.name))
        } else {
            format!(
                "set `{}` brings the sets of this file to",
                quote(&s.name.name)
            )
        };
        self.diags.push(
            Diagnostic::error(
                "sockc::too-large",
                format!(
                    "{whose} more elements than the {} ({}), which counts all the sets \
                     of a rule file together",
                    Limit::SetElements,
                    amount(Limit::SetElements, max)
                ),
            )
            .label(s.span, "too many elements")
            .help(Limit::SetElements.how_to_change()),
        );
        None
    }

    /// Whether the set holds addresses (else ports), as its first element says; an
    /// element of the other kind is an error (`None`).
    fn set_kind_is_addr(&mut self, s: &SetDecl, elems: &[Elem]) -> Option<bool> {
        let is_addr = matches!(elems[0].value, SetElem::Prefix(..));
        let Some(bad) = elems
            .iter()
            .find(|e| matches!(e.value, SetElem::Prefix(..)) != is_addr)
        else {
            return Some(is_addr);
        };
        let (first, other) = if is_addr {
            ("addresses", "a port")
        } else {
            ("ports", "an address")
        };
        self.diags.push(
            Diagnostic::error(
                "sockc::mixed-set",
                format!("set `{}` mixes addresses and ports", quote(&s.name.name)),
            )
            .label(bad.span, format!("{other}{}", at_line(bad.file_line)))
            .label(elems[0].span, format!("the set holds {first}, from here")),
        );
        None
    }

    /// An address set: its prefixes without those another one covers (each reported),
    /// added to the module.
    fn address_set(&mut self, s: &SetDecl, elems: &[Elem]) -> SetKind {
        let mut nets: Vec<(IpNet, &Elem)> = elems
            .iter()
            .filter_map(|e| match e.value {
                SetElem::Prefix(n, _) => Some((n, e)),
                SetElem::Ports(..) => None,
            })
            .collect();
        // Sorting by (address, length) puts a covering prefix right before the
        // prefixes it covers.
        nets.sort_by(|a, b| {
            (a.0.network(), a.0.prefix_len()).cmp(&(b.0.network(), b.0.prefix_len()))
        });
        let mut covering: Vec<(IpNet, &Elem)> = Vec::new();
        let mut kept = Vec::new();
        for (n, e) in nets {
            while covering.last().is_some_and(|(c, _)| !c.contains(&n)) {
                covering.pop();
            }
            if let Some((c, ce)) = covering.last() {
                let what = if *c == n {
                    "duplicate element"
                } else {
                    "element inside another"
                };
                self.diags.push(
                    Diagnostic::warning(
                        "sockc::set-overlap",
                        format!(
                            "set `{}`: {n}{} is covered by {c}{}",
                            quote(&s.name.name),
                            at_line(e.file_line),
                            at_line(ce.file_line)
                        ),
                    )
                    .label(e.span, what)
                    .label(ce.span, "covered by this"),
                );
                continue;
            }
            covering.push((n, e));
            kept.push(n);
        }
        let id = self.module.sets.push(AddrSet {
            name: s.name.name.clone(),
            v4: kept
                .iter()
                .filter_map(|n| match n {
                    IpNet::V4(n) => Some(*n),
                    _ => None,
                })
                .collect(),
            v6: kept
                .iter()
                .filter_map(|n| match n {
                    IpNet::V6(n) => Some(*n),
                    _ => None,
                })
                .collect(),
        });
        SetKind::Addr(id)
    }

    /// A port set: its ranges sorted and merged, each overlap reported.
    fn port_set(&mut self, s: &SetDecl, elems: &[Elem]) -> SetKind {
        let mut ranges: Vec<(u16, u16, &Elem)> = elems
            .iter()
            .filter_map(|e| match e.value {
                SetElem::Ports(lo, hi, _) => Some((lo, hi, e)),
                SetElem::Prefix(..) => None,
            })
            .collect();
        ranges.sort_by_key(|r| (r.0, std::cmp::Reverse(r.1)));
        let mut out: Vec<(u16, u16)> = Vec::new();
        let mut last: Option<(u16, u16, &Elem)> = None;
        for (lo, hi, e) in ranges {
            if let Some((plo, phi, pe)) = last {
                if lo <= phi {
                    self.diags.push(
                        Diagnostic::warning(
                            "sockc::set-overlap",
                            format!(
                                "set `{}`: ports {} overlap {}",
                                quote(&s.name.name),
                                crate::ir::port_range_text(lo, hi),
                                crate::ir::port_range_text(plo, phi)
                            ),
                        )
                        .label(e.span, "overlapping element")
                        .label(pe.span, "overlaps this"),
                    );
                }
            }
            if last.is_none_or(|(_, phi, _)| hi > phi) {
                last = Some((lo, hi, e));
            }
            merge_range(&mut out, lo, hi);
        }
        SetKind::Ports(out)
    }

    /// Decides whether the set file at `path` may be read ([`Placement`]), or says
    /// why not.
    fn place_set_file(&self, path: &str) -> Result<Placement, String> {
        if let Some(c) = path.chars().find(|&c| crate::diag::is_invisible(c)) {
            return Err(format!("the path holds {}", crate::diag::char_name(c)));
        }
        let cwd = std::env::current_dir().unwrap_or_default();
        let base = self.opts.base_dir.clone().unwrap_or_else(|| cwd.clone());
        let base = lexical(&cwd.join(base));
        let roots: Vec<PathBuf> = std::iter::once(base.clone())
            .chain(self.opts.set_dirs.iter().map(|d| lexical(&cwd.join(d))))
            .collect();
        let outside = || {
            "it is outside the rule file's directory; sockc reads set files from that \
             directory's tree only, or from a tree allowed with --set-dir DIR"
                .to_string()
        };
        // By its text first: a path that leaves every allowed tree is not looked up.
        let named = lexical(&base.join(path));
        if !roots.iter().any(|r| named.starts_with(r)) {
            return Err(outside());
        }
        // Then what it really names, symbolic links followed.
        let real = std::fs::canonicalize(&named).map_err(|e| e.to_string())?;
        let real_root = |r: &PathBuf| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
        if real.starts_with(real_root(&base)) {
            Ok(Placement::Own(real))
        } else if roots[1..].iter().any(|r| real.starts_with(real_root(r))) {
            Ok(Placement::Allowed(real))
        } else {
            Err(format!("{} (through a symbolic link)", outside()))
        }
    }

    /// Reads a `file "..."` set: one address or prefix per line; `#` comments and
    /// blank lines are ignored. At most the set element limit of elements is kept.
    fn read_set_file(&mut self, path: &str, span: Span) -> Option<Vec<Elem>> {
        let (text, quotable) = self.set_file_text(path, span)?;
        let shown = quote(path);
        // Past what the element limit leaves, only whether there are more matters.
        let max_elems = usize::try_from(
            self.opts
                .limits
                .set_elements
                .saturating_sub(self.set_elements),
        )
        .unwrap_or(usize::MAX);
        let mut elems = Vec::new();
        let mut bad = false;
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            // A prefix needs its `/`: without one, only the address parse can succeed,
            // so a file of plain addresses is parsed once per line, not twice.
            let parsed = if entry.contains('/') {
                entry.parse::<IpNet>().map_err(|_| ())
            } else {
                entry
                    .parse::<std::net::IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| ())
            };
            let problem = match parsed {
                Ok(n) if n.trunc() == n => {
                    // Past the limit only the count matters (reported by the caller).
                    if elems.len() <= max_elems {
                        elems.push(Elem {
                            value: SetElem::Prefix(n, span),
                            span,
                            file_line: Some(i + 1),
                        });
                    }
                    continue;
                }
                Ok(n) => (
                    "sockc::host-bits",
                    "has host bits set below its prefix",
                    Some(n),
                ),
                Err(_) => ("sockc::bad-address", "is not an address or prefix", None),
            };
            bad = true;
            if !self.diags.has_room(Severity::Error) {
                self.diags.count(Severity::Error);
                continue;
            }
            let (code, why, net) = problem;
            let mut d = Diagnostic::error(
                code,
                if quotable {
                    format!("{shown}:{}: `{}` {why}", i + 1, quote(entry))
                } else {
                    format!(
                        "{shown}:{}: the line {why} (not shown: the file is outside the \
                         rule file's directory)",
                        i + 1
                    )
                },
            )
            .label(span, "in this file");
            if let (Some(n), true) = (net, quotable) {
                d = d.help(format!("did you mean `{}`?", n.trunc()));
            }
            self.diags.push(d);
        }
        (!bad).then_some(elems)
    }

    /// The text of the set file at `path` (named at `span`) and whether its lines may
    /// be quoted ([`Placement`]), within what the set file size limit leaves; or the
    /// refusal, reported.
    fn set_file_text(&mut self, path: &str, span: Span) -> Option<(String, bool)> {
        let refuse = |checker: &mut Self, why: String| {
            checker.diags.push(
                Diagnostic::error(
                    "sockc::set-file",
                    format!("cannot read set file \"{}\": {why}", quote(path)),
                )
                .label(span, "this file"),
            );
            None
        };
        let (real, quotable) = match self.place_set_file(path) {
            Ok(Placement::Own(p)) => (p, true),
            Ok(Placement::Allowed(p)) => (p, false),
            Err(why) => return refuse(self, why),
        };
        // The size limit counts the set files of a rule file together.
        let max_bytes = self.opts.limits.set_file_bytes;
        let read_before = self.set_file_bytes;
        let left = max_bytes.saturating_sub(read_before);
        match read_bounded(&real, Limit::SetFileBytes, left) {
            Ok(bytes) => {
                self.set_file_bytes += bytes.len() as u64;
                match utf8(bytes) {
                    Ok(t) => Some((t, quotable)),
                    // Says where, not what.
                    Err(e) => refuse(self, e.to_string()),
                }
            }
            Err(InputError::TooLarge { size, .. }) if read_before > 0 => {
                let why = format!(
                    "it is {size} bytes; with the {read_before} bytes of the set files before \
                     it, that is over the {} of {}, which counts all the set files of a rule \
                     file together: {}",
                    Limit::SetFileBytes,
                    amount(Limit::SetFileBytes, max_bytes),
                    Limit::SetFileBytes.how_to_change()
                );
                refuse(self, why)
            }
            Err(e) => refuse(self, e.to_string()),
        }
    }
}

fn at_line(l: Option<usize>) -> String {
    l.map(|l| format!(" (file line {l})")).unwrap_or_default()
}

/// Appends a range to a sorted list, merging overlapping and adjacent ranges.
pub(crate) fn merge_range(out: &mut Vec<(u16, u16)>, lo: u16, hi: u16) {
    if let Some(last) = out.last_mut() {
        if u32::from(lo) <= u32::from(last.1) + 1 {
            last.1 = last.1.max(hi);
            return;
        }
    }
    out.push((lo, hi));
}
