//! Set declarations: inline lists and `file` sets, their kind (addresses or ports),
//! and the set lints (empty, mixed, duplicate or overlapping elements).

use ipnet::IpNet;

use super::{Checker, SetKind};
use crate::{
    diag::{Diagnostic, Span},
    ir::AddrSet,
    syntax::ast::{SetBody, SetDecl, SetElem},
};

/// Elements per set; a larger set is refused before anything touches the kernel.
pub const MAX_SET_ELEMENTS: usize = 1 << 20;

/// One element with where it came from (a span in the rule file; for file sets the
/// `file "..."` span plus the line in that file).
struct Elem {
    value: SetElem,
    span: Span,
    file_line: Option<usize>,
}

impl Checker<'_> {
    pub(crate) fn declare_set(&mut self, s: &SetDecl) {
        if let Some((_, prev)) = self.sets.get(&s.name.name) {
            let prev = *prev;
            self.diags.push(
                Diagnostic::error(
                    "sockc::duplicate-name",
                    format!("set `{}` is declared twice", s.name.name),
                )
                .label(s.name.span, "declared again here")
                .label(prev, "first declared here"),
            );
            return;
        }
        let kind = self.set_contents(s).unwrap_or(SetKind::Broken);
        self.sets.insert(s.name.name.clone(), (kind, s.name.span));
    }

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
        if elems.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "sockc::empty-set",
                    format!("set `{}` is empty", s.name.name),
                )
                .label(s.span, "no elements")
                .help(
                    "a rule using an empty set could never match; remove the set or add elements",
                ),
            );
            return None;
        }
        if elems.len() > MAX_SET_ELEMENTS {
            self.diags.push(
                Diagnostic::error(
                    "sockc::too-large",
                    format!(
                        "set `{}` has {} elements; the limit is {MAX_SET_ELEMENTS}",
                        s.name.name,
                        elems.len()
                    ),
                )
                .label(s.span, "too many elements"),
            );
            return None;
        }
        let is_addr = matches!(elems[0].value, SetElem::Prefix(..));
        if let Some(bad) = elems
            .iter()
            .find(|e| matches!(e.value, SetElem::Prefix(..)) != is_addr)
        {
            let (first, other) = if is_addr {
                ("addresses", "a port")
            } else {
                ("ports", "an address")
            };
            self.diags.push(
                Diagnostic::error(
                    "sockc::mixed-set",
                    format!("set `{}` mixes addresses and ports", s.name.name),
                )
                .label(bad.span, format!("{other}{}", at_line(bad.file_line)))
                .label(elems[0].span, format!("the set holds {first}, from here")),
            );
            return None;
        }
        if is_addr {
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
                                s.name.name,
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
            Some(SetKind::Addr(id))
        } else {
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
                                    s.name.name,
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
            Some(SetKind::Ports(out))
        }
    }

    /// Reads a `file "..."` set: one address or prefix per line; `#` comments and
    /// blank lines are ignored.
    fn read_set_file(&mut self, path: &str, span: Span) -> Option<Vec<Elem>> {
        let full = match &self.opts.base_dir {
            Some(dir) => dir.join(path),
            None => std::path::PathBuf::from(path),
        };
        let text = match std::fs::read_to_string(&full) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        "sockc::set-file",
                        format!("cannot read set file \"{path}\": {e}"),
                    )
                    .label(span, "this file"),
                );
                return None;
            }
        };
        let mut elems = Vec::new();
        let mut bad = 0usize;
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let parsed = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                Ok(n) if n.trunc() == n => elems.push(Elem {
                    value: SetElem::Prefix(n, span),
                    span,
                    file_line: Some(i + 1),
                }),
                Ok(n) => {
                    bad += 1;
                    if bad <= 10 {
                        self.diags.push(
                            Diagnostic::error(
                                "sockc::host-bits",
                                format!(
                                    "{}:{}: `{entry}` has host bits set below the /{} prefix",
                                    path,
                                    i + 1,
                                    n.prefix_len()
                                ),
                            )
                            .label(span, "in this file")
                            .help(format!("did you mean `{}`?", n.trunc())),
                        );
                    }
                }
                Err(_) => {
                    bad += 1;
                    if bad <= 10 {
                        self.diags.push(
                            Diagnostic::error(
                                "sockc::bad-address",
                                format!(
                                    "{}:{}: `{entry}` is not an address or prefix",
                                    path,
                                    i + 1
                                ),
                            )
                            .label(span, "in this file"),
                        );
                    }
                }
            }
        }
        if bad > 10 {
            self.diags.push(
                Diagnostic::error(
                    "sockc::bad-address",
                    format!("{path}: {} more bad lines not shown", bad - 10),
                )
                .label(span, "in this file"),
            );
        }
        (bad == 0).then_some(elems)
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
