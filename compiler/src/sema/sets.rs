//! Set declarations: inline lists and `file` sets, their kind (addresses or ports),
//! and the set lints (empty, mixed, duplicate or overlapping elements).
//!
//! Where a set file may come from (docs/language.md, "Set files"): its path is
//! relative to the rule file's directory (an absolute path is taken as it is), and
//! the file it names — after `..` and symbolic links — must lie in the rule file's
//! directory tree or in a tree allowed with `--set-dir`; anything else is refused
//! (a path that leaves the tree by its text is never even looked up). The file is
//! opened once, relative to a descriptor of the tree's directory with
//! `openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)`, so the kernel refuses, during
//! the one lookup, any link or renamed directory that leads out of the tree; what it
//! is and how large is then checked on that descriptor, and it is read from it.
//! Invariant: no diagnostic quotes a line of a file that was not opened beneath the
//! rule file's own directory; it says which line and why, not what the line holds.
//! What a set holds comes from one read of its file: a large file read in pieces is
//! read a byte once, and when that read gives up (a line that is not a plain address,
//! a size that changed) all of it is dropped and the file read whole again; its text
//! read again to find the lines of a repeated address gives only their warnings.

use std::{
    fs::File,
    path::{Component, Path, PathBuf},
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{
    set_lines::{
        file_lines, plain_file_addrs, plain_ipv4, radix_sort, streamed_plain_addrs, FileLine,
        STREAM_BLOCK, STREAM_PIECES, TWO_THREADS_FROM,
    },
    Checker, SetKind,
};
use crate::{
    diag::{quote, Code, Diagnostic, Span},
    input::{read_open, utf8, InputError},
    ir::AddrSet,
    limits::{amount, Limit},
    syntax::ast::{SetBody, SetDecl, SetElem},
};

/// One element with where it came from (a span in the rule file; for file sets the
/// `file "..."` span plus the line in that file).
///
/// Kept small (its span is the value's, its line a `u32`): a file set holds a million.
#[derive(Clone)]
struct Elem {
    value: SetElem,
    file_line: Option<u32>,
}

impl Elem {
    fn span(&self) -> Span {
        self.value.span()
    }
}

/// A set's elements as read. A set file of IPv4 addresses and prefixes alone (fewer
/// than 2^24 lines, the common large case) is kept as packed integers (address,
/// length, file line), 8 bytes an element instead of an [`Elem`]'s 48.
enum Elems {
    List(Vec<Elem>),
    PackedV4 {
        keys: Vec<u64>,
        span: Span,
    },
    /// A set file of plain IPv4 addresses alone, read on two threads
    /// ([`plain_file_addrs`]): the addresses of its two halves, each sorted, and its
    /// text (read again for the lines of repeated addresses, if any).
    PlainV4 {
        halves: (Vec<u32>, Vec<u32>),
        text: String,
        span: Span,
    },
    /// A set file of plain IPv4 addresses alone, read in pieces
    /// ([`Checker::streamed_plain_set`]): its addresses, each once, sorted; its number
    /// of lines; the addresses written more than once and, only when there are any,
    /// its text (read again for their lines).
    SortedV4 {
        kept: Vec<Ipv4Net>,
        lines: usize,
        repeated: Vec<u32>,
        text: String,
        span: Span,
    },
}

impl Elems {
    fn len(&self) -> usize {
        match self {
            Elems::List(l) => l.len(),
            Elems::PackedV4 { keys, .. } => keys.len(),
            Elems::PlainV4 { halves, .. } => halves.0.len() + halves.1.len(),
            Elems::SortedV4 { lines, .. } => *lines,
        }
    }

    fn push(&mut self, e: Elem) {
        match self {
            Elems::List(l) => l.push(e),
            Elems::PlainV4 { .. } | Elems::SortedV4 { .. } => {
                unreachable!("a file of plain addresses is read whole")
            }
            Elems::PackedV4 { keys, span } => {
                let packable = u64::from(e.file_line.unwrap_or(1 << 24)) < 1 << 24;
                match e.value {
                    SetElem::Prefix(IpNet::V4(n), _) if packable => {
                        keys.push(pack_v4(n, u64::from(e.file_line.unwrap_or(0))));
                    }
                    _ => {
                        let span = *span;
                        let mut list: Vec<Elem> = Vec::with_capacity(keys.capacity());
                        list.extend(keys.iter().map(|&k| unpacked_file_elem(k, span)));
                        list.push(e);
                        *self = Elems::List(list);
                    }
                }
            }
        }
    }
}

/// `n` packed with `low` (an element index or a file line, under 2^24): sorting the
/// keys sorts by (address, length, `low`).
fn pack_v4(n: Ipv4Net, low: u64) -> u64 {
    u64::from(n.network().to_bits()) << 32 | u64::from(n.prefix_len()) << 24 | low
}

/// Sorts packed keys as `sort_unstable` does; keys already sorted (a set file kept
/// sorted) are only checked. Keys packed in order (their low 24 bits, a line or an
/// element index, increase) take stable passes over digits of the bits above those
/// that differ between keys (least significant first), every digit counted in one
/// pass over the keys: a few linear passes instead of a comparison sort's twenty. The
/// digits are as few as 12 bits a digit allows (4,096 buckets stay in cache), so bits
/// every key shares cost nothing: a file of plain addresses (one length) within a /8
/// takes two passes, any other at most four. Keys in any other order take
/// `sort_unstable`.
fn sort_packed(keys: &mut Vec<u64>) {
    if keys.is_sorted() {
        return;
    }
    let low = |k: u64| k & 0xff_ffff;
    if !keys.windows(2).all(|w| low(w[0]) < low(w[1])) {
        keys.sort_unstable();
        return;
    }
    let (any, all) = keys
        .iter()
        .fold((0u64, !0u64), |(any, all), &k| (any | k, all & k));
    // one (address, length) when no bit differs: in line order, which is sorted
    radix_sort(keys, (any ^ all) & !0xff_ffff, |k| k);
}

/// The prefix of a packed key.
fn unpack_v4(k: u64) -> Ipv4Net {
    Ipv4Net::new(((k >> 32) as u32).into(), (k >> 24 & 0xff) as u8)
        .expect("a packed length is at most 32")
}

/// The element a packed key of a set file (named at `span`) stands for.
fn unpacked_file_elem(k: u64, span: Span) -> Elem {
    Elem {
        value: SetElem::Prefix(IpNet::V4(unpack_v4(k)), span),
        file_line: Some((k & 0xff_ffff) as u32),
    }
}

/// Where a set file was opened.
pub(super) enum Placement {
    /// Beneath the rule file's directory: its lines may be quoted.
    Own,
    /// In a `--set-dir` tree: read, never quoted.
    Allowed,
}

/// Opens `rel` for reading beneath the directory `root`: the kernel resolves it in
/// one walk and fails with `EXDEV` if `..`, an absolute or a relative symbolic link,
/// or a directory renamed meanwhile would take the walk out of `root`. Opened without
/// blocking (a FIFO with no writer) and without becoming a controlling terminal.
fn open_beneath(root: &Path, rel: &Path) -> rustix::io::Result<File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
    let dir = rustix::fs::openat(
        CWD,
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let fd = rustix::fs::openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )?;
    Ok(File::from(fd))
}

/// Opens `path` following links as they are, and says where the opened file really
/// is, read back from its descriptor (`/proc/self/fd`), not from the path.
fn open_following(path: &Path) -> std::io::Result<(File, PathBuf)> {
    use std::os::{fd::AsRawFd, unix::fs::OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    Ok((file, real))
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
                Diagnostic::new(
                    Code::DuplicateName,
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
        if let Some((v4, v6)) = self.recorded_lists(s).cloned() {
            self.check_set_size(s, v4.len() + v6.len())?;
            return Some(self.add_set(s, v4, v6));
        }
        let elems = match &s.body {
            SetBody::List(l) => l
                .iter()
                .map(|e| Elem {
                    value: e.clone(),
                    file_line: None,
                })
                .collect::<Vec<_>>(),
            SetBody::File { path, span } => match self.read_set_file(path, *span)? {
                Elems::List(l) => l,
                Elems::PackedV4 { keys, span } => {
                    self.check_set_size(s, keys.len())?;
                    return Some(self.packed_file_set(s, keys, span));
                }
                Elems::PlainV4 { halves, text, span } => {
                    self.check_set_size(s, halves.0.len() + halves.1.len())?;
                    let v4 = self.uncovered_plain_v4(s, halves, (&text, span));
                    return Some(self.add_set(s, v4, Vec::new()));
                }
                Elems::SortedV4 {
                    kept,
                    lines,
                    repeated,
                    text,
                    span,
                } => {
                    self.check_set_size(s, lines)?;
                    self.report_repeats(s, &repeated, (&text, span));
                    return Some(self.add_set(s, kept, Vec::new()));
                }
            },
        };
        self.check_set_size(s, elems.len())?;
        if self.set_kind_is_addr(s, &elems)? {
            Some(self.address_set(s, &elems))
        } else {
            Some(self.port_set(s, &elems))
        }
    }

    /// The elements recorded for file set `s` ([`super::Options::recorded_sets`]),
    /// when there are any.
    fn recorded_lists(&self, s: &SetDecl) -> Option<&(Vec<Ipv4Net>, Vec<Ipv6Net>)> {
        if !matches!(s.body, SetBody::File { .. }) {
            return None;
        }
        let lists = self.opts.recorded_sets.as_deref()?.get(&s.name.name)?;
        (!lists.0.is_empty() || !lists.1.is_empty()).then_some(lists)
    }

    /// A set must have elements, and the sets of a file together at most the set
    /// element limit.
    fn check_set_size(&mut self, s: &SetDecl, elems: usize) -> Option<()> {
        if elems == 0 {
            self.diags.push(
                Diagnostic::new(
                    Code::EmptySet,
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
        self.set_elements = before.saturating_add(elems as u64);
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
            Diagnostic::new(
                Code::TooLarge,
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
            Diagnostic::new(
                Code::MixedSet,
                format!("set `{}` mixes addresses and ports", quote(&s.name.name)),
            )
            .label(bad.span(), format!("{other}{}", at_line(bad.file_line)))
            .label(elems[0].span(), format!("the set holds {first}, from here")),
        );
        None
    }

    /// An address set: its prefixes without those another one covers (each reported),
    /// added to the module.
    fn address_set(&mut self, s: &SetDecl, elems: &[Elem]) -> SetKind {
        let (v4, v6) = match packed_v4(elems) {
            Some(keys) => {
                let elem = |k: u64| elems[(k & 0xff_ffff) as usize].clone();
                let n = keys.len();
                (self.uncovered_v4(s, (keys, n), elem), Vec::new())
            }
            None => self.uncovered(s, elems),
        };
        self.add_set(s, v4, v6)
    }

    /// An address set read from a file as packed IPv4 keys (named at `span`).
    fn packed_file_set(&mut self, s: &SetDecl, mut keys: Vec<u64>, span: Span) -> SetKind {
        let elem = |k| unpacked_file_elem(k, span);
        let n = keys.len();
        sort_packed(&mut keys);
        let v4 = self.uncovered_v4(s, (keys, n), elem);
        self.add_set(s, v4, Vec::new())
    }

    /// [`Checker::uncovered_v4`] of a set file of plain addresses ([`plain_file_addrs`]:
    /// its two halves' addresses, each sorted; its `text`; named at `span`): a /32
    /// covers only an equal one, so the merge of the halves keeps each address once,
    /// in one tight loop over two lists of integers (this runs on one thread, over a
    /// million addresses). An address written more than once is reported as the
    /// general sweep reports it — each repeat, in line order, as covered by its first
    /// line, by address — from the lines of those addresses alone, read again
    /// ([`repeated_lines`]).
    fn uncovered_plain_v4(
        &mut self,
        s: &SetDecl,
        (a, b): (Vec<u32>, Vec<u32>),
        (text, span): (&str, Span),
    ) -> Vec<Ipv4Net> {
        let (kept, repeated) = merge_unique(a, b);
        self.report_repeats(s, &repeated, (text, span));
        kept
    }

    /// Reports each line of the set file `text` (named at `span`) that repeats an
    /// address of `repeated` (sorted) written on an earlier line, in line order, as
    /// covered by its first line, by address ([`repeated_lines`]).
    fn report_repeats(&mut self, s: &SetDecl, repeated: &[u32], (text, span): (&str, Span)) {
        if repeated.is_empty() {
            return;
        }
        let mut first: Option<u64> = None;
        for k in repeated_lines(text, repeated) {
            match first {
                Some(f) if f >> 32 == k >> 32 => {
                    let (e, ce) = (unpacked_file_elem(k, span), unpacked_file_elem(f, span));
                    self.covered(s, (prefix(&e), &e), (prefix(&ce), &ce));
                }
                _ => first = Some(k),
            }
        }
    }

    fn add_set(&mut self, s: &SetDecl, v4: Vec<Ipv4Net>, v6: Vec<Ipv6Net>) -> SetKind {
        let id = self.module.sets.push(AddrSet {
            name: s.name.name.clone(),
            v4,
            v6,
        });
        SetKind::Addr(id)
    }

    /// The prefixes of `elems` that no other one covers, by family, each covered one
    /// reported.
    fn uncovered(&mut self, s: &SetDecl, elems: &[Elem]) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
        let mut nets: Vec<(IpNet, &Elem)> = Vec::with_capacity(elems.len());
        nets.extend(elems.iter().filter_map(|e| match e.value {
            SetElem::Prefix(n, _) => Some((n, e)),
            SetElem::Ports(..) => None,
        }));
        sort_prefixes(&mut nets);
        let mut covering: Vec<(IpNet, &Elem)> = Vec::new();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (n, e) in nets {
            while covering.last().is_some_and(|(c, _)| !c.contains(&n)) {
                covering.pop();
            }
            if let Some((c, ce)) = covering.last() {
                self.covered(s, (n, e), (*c, ce));
                continue;
            }
            covering.push((n, e));
            match n {
                IpNet::V4(n) => v4.push(n),
                IpNet::V6(n) => v6.push(n),
            }
        }
        (v4, v6)
    }

    /// [`Checker::uncovered`] for IPv4 prefixes packed and sorted by [`packed_v4`]:
    /// compared as integers (a prefix covers the ones after it whose last address is
    /// not past its own), without building `IpNet` pairs for a million elements.
    /// `elem` gives the element a key stands for (only for a covered one, to report);
    /// `n`, how many keys there are.
    fn uncovered_v4(
        &mut self,
        s: &SetDecl,
        (keys, n): (impl IntoIterator<Item = u64>, usize),
        elem: impl Fn(u64) -> Elem,
    ) -> Vec<Ipv4Net> {
        // (last address, key) of the prefixes that may still cover.
        let mut covering: Vec<(u32, u64)> = Vec::new();
        let mut kept = Vec::with_capacity(n);
        for k in keys {
            let n = unpack_v4(k);
            let last = n.broadcast().to_bits();
            while covering.last().is_some_and(|&(c_last, _)| c_last < last) {
                covering.pop();
            }
            if let Some(&(_, ck)) = covering.last() {
                let (e, ce) = (elem(k), elem(ck));
                self.covered(s, (prefix(&e), &e), (prefix(&ce), &ce));
                continue;
            }
            covering.push((last, k));
            kept.push(n);
        }
        kept
    }

    /// Reports element `e` (prefix `n`) of set `s` as covered by `ce` (prefix `c`).
    fn covered(&mut self, s: &SetDecl, (n, e): (IpNet, &Elem), (c, ce): (IpNet, &Elem)) {
        let what = if c == n {
            "duplicate element"
        } else {
            "element inside another"
        };
        self.diags.push(
            Diagnostic::new(
                Code::SetOverlap,
                format!(
                    "set `{}`: {n}{} is covered by {c}{}",
                    quote(&s.name.name),
                    at_line(e.file_line),
                    at_line(ce.file_line)
                ),
            )
            .label(e.span(), what)
            .label(ce.span(), "covered by this"),
        );
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
                        Diagnostic::new(
                            Code::SetOverlap,
                            format!(
                                "set `{}`: ports {} overlap {}",
                                quote(&s.name.name),
                                crate::ir::port_range_text(lo, hi),
                                crate::ir::port_range_text(plo, phi)
                            ),
                        )
                        .label(e.span(), "overlapping element")
                        .label(pe.span(), "overlaps this"),
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

    /// Opens the set file at `path` where it may be read from ([`Placement`]), or
    /// says why not. Tried beneath the rule file's directory first, then beneath each
    /// `--set-dir` tree its text lies in; a link from one allowed tree into a
    /// `--set-dir` tree is followed last, and kept only if the descriptor opened is in
    /// a `--set-dir` tree (never quoted).
    pub(super) fn open_set_file(&self, path: &str) -> Result<(File, Placement), String> {
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
        for (i, root) in roots.iter().enumerate() {
            let Ok(rel) = named.strip_prefix(root) else {
                continue;
            };
            match open_beneath(root, rel) {
                Ok(f) if i == 0 => return Ok((f, Placement::Own)),
                Ok(f) => return Ok((f, Placement::Allowed)),
                // Out of this tree on the way: perhaps into another allowed one.
                Err(rustix::io::Errno::XDEV) => {}
                Err(rustix::io::Errno::NOSYS) => {
                    return Err("this kernel has no openat2 (Linux 5.6 or later is needed \
                                to read set files safely)"
                        .to_string())
                }
                Err(e) => return Err(std::io::Error::from(e).to_string()),
            }
        }
        let through_link = || format!("{} (through a symbolic link)", outside());
        if roots.len() == 1 {
            return Err(through_link());
        }
        let (file, real) = open_following(&named).map_err(|e| e.to_string())?;
        let real_root = |r: &PathBuf| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
        if roots[1..].iter().any(|r| real.starts_with(real_root(r))) {
            Ok((file, Placement::Allowed))
        } else {
            Err(through_link())
        }
    }

    /// Reads a `file "..."` set: one address or prefix per line; `#` comments and
    /// blank lines are ignored. At most the set element limit of elements is kept.
    fn read_set_file(&mut self, path: &str, span: Span) -> Option<Elems> {
        let (file, quotable) = self.open_set_file_at(path, span)?;
        // Past what the element limit leaves, only whether there are more matters.
        let max_elems = usize::try_from(
            self.opts
                .limits
                .set_elements
                .saturating_sub(self.set_elements),
        )
        .unwrap_or(usize::MAX);
        // A large file of plain addresses alone (the common large case) is read and
        // parsed in pieces on two threads, its text not held whole unless an address
        // repeats; any other file is read whole below (from its start: the pieces were
        // read with `pread`, which leaves the file's offset where it was).
        if let Some((kept, lines, repeated)) = self.streamed_plain_set(&file, max_elems) {
            // The lines of a repeated address are found in the text, read for them.
            let text = match repeated.is_empty() {
                true => String::new(),
                false => self.set_file_text(file, path, span)?,
            };
            return Some(Elems::SortedV4 {
                kept,
                lines,
                repeated,
                text,
                span,
            });
        }
        let text = self.set_file_text(file, path, span)?;
        let shown = quote(path);
        // Sized once (a line an element at most): a million elements are not copied
        // from one doubling of the vector to the next.
        let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1;
        // A large file of plain addresses alone (the common large case) is read on two
        // threads; any other file, line by line here.
        if lines < 1 << 24 && lines <= max_elems && text.len() >= TWO_THREADS_FROM {
            if let Some(halves) = plain_file_addrs(&text) {
                return Some(Elems::PlainV4 { halves, text, span });
            }
        }
        let room = lines.min(max_elems.saturating_add(1));
        let mut elems = if lines < 1 << 24 {
            Elems::PackedV4 {
                keys: Vec::with_capacity(room),
                span,
            }
        } else {
            Elems::List(Vec::with_capacity(room))
        };
        let mut bad = false;
        for (i, line) in file_lines(&text).enumerate() {
            // A line that is a plain address and nothing else (no comment, no blanks to
            // trim: it has no text to quote) was read while its end was found.
            let (plain, entry) = match line {
                FileLine::Plain(a) => (Some(a), ""),
                FileLine::Text(line) => {
                    // A byte scan: `#` is ASCII, and a line is a dozen bytes, too short
                    // for `str::find`'s searcher to pay for itself a million times over.
                    let entry = match line.bytes().position(|b| b == b'#') {
                        Some(at) => &line[..at],
                        None => line,
                    }
                    .trim();
                    if entry.is_empty() {
                        continue;
                    }
                    (plain_ipv4(entry), entry)
                }
            };
            // The common large case, a plain address into a packed set, without the
            // round trip through `IpNet` and `Elem` (an address has no host bits; a
            // packed set has fewer than 2^24 lines, so the line fits its key).
            if let (Some(a), Elems::PackedV4 { keys, .. }) = (plain, &mut elems) {
                if keys.len() <= max_elems {
                    keys.push(pack_v4(Ipv4Net::from(a), (i + 1) as u64));
                }
                continue;
            }
            // A prefix needs its `/`: without one, only the address parse can succeed,
            // so a file of plain addresses is parsed once per line, not twice.
            let parsed = if let Some(a) = plain {
                Ok(IpNet::from(std::net::IpAddr::V4(a)))
            } else if entry.contains('/') {
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
                            // The set file size limit keeps lines far below 2^32.
                            file_line: Some(u32::try_from(i + 1).unwrap_or(u32::MAX)),
                        });
                    }
                    continue;
                }
                Ok(n) => (
                    Code::HostBits,
                    "has host bits set below its prefix",
                    Some(n),
                ),
                Err(_) => (Code::BadAddress, "is not an address or prefix", None),
            };
            bad = true;
            let at = (shown.as_str(), span, quotable);
            self.bad_set_line(at, i + 1, entry, problem);
        }
        (!bad).then_some(elems)
    }

    /// Reports line `line` of the set file `shown` (named at `span`; its lines quoted
    /// only when `quotable`), which holds `entry`: its diagnostic code, why it is
    /// refused, and the prefix it was read as, if any.
    fn bad_set_line(
        &mut self,
        (shown, span, quotable): (&str, Span, bool),
        line: usize,
        entry: &str,
        (code, why, net): (Code, &str, Option<IpNet>),
    ) {
        if !self.diags.has_room(code.severity()) {
            self.diags.count(code.severity());
            return;
        }
        let mut d = Diagnostic::new(
            code,
            if quotable {
                format!("{shown}:{line}: `{}` {why}", quote(entry))
            } else {
                format!(
                    "{shown}:{line}: the line {why} (not shown: the file is outside the \
                     rule file's directory)"
                )
            },
        )
        .label(span, "in this file");
        if let (Some(n), true) = (net, quotable) {
            d = d.help(format!("did you mean `{}`?", n.trunc()));
        }
        self.diags.push(d);
    }

    /// The addresses of the set file `file` when it is large (from
    /// [`TWO_THREADS_FROM`] bytes), within what the set file size limit leaves, and
    /// every line of it is a plain IPv4 address, no more than `max_elems`: read in
    /// pieces on two threads ([`streamed_plain_addrs`]; fewer than 2^24), each kept once, sorted; with
    /// its number of lines and the addresses written more than once (whose lines the
    /// caller finds in the text, read whole for them). Its bytes are counted against
    /// the limit when none repeats (else when the text is read). `None` for any other
    /// file, which the caller reads whole and reports on as ever: the result of this
    /// read is dropped whole, so what a set holds always comes from one read of its
    /// file. A large file, of whatever lines, is first told to the caller's hook
    /// ([`super::Options::on_large_set_file`]).
    fn streamed_plain_set(
        &mut self,
        file: &File,
        max_elems: usize,
    ) -> Option<(Vec<Ipv4Net>, usize, Vec<u32>)> {
        let meta = file.metadata().ok().filter(|m| m.is_file())?;
        let left = self
            .opts
            .limits
            .set_file_bytes
            .saturating_sub(self.set_file_bytes);
        let size = meta.len();
        if size >= TWO_THREADS_FROM as u64 {
            if let Some(hook) = &self.opts.on_large_set_file {
                (hook.0)();
            }
        }
        if size > left || size < TWO_THREADS_FROM as u64 {
            return None;
        }
        let (a, b) = streamed_plain_addrs(file, size, (STREAM_BLOCK, STREAM_PIECES))?;
        // A repeat's line is packed in 24 bits ([`repeated_lines`]).
        if a.len() + b.len() > max_elems || a.len() + b.len() >= 1 << 24 {
            return None;
        }
        let lines = a.len() + b.len();
        let (kept, repeated) = merge_unique(a, b);
        if repeated.is_empty() {
            self.set_file_bytes += size;
        }
        Some((kept, lines, repeated))
    }

    /// Reports that the set file at `path` (named at `span`) cannot be read, and why.
    fn refuse_set_file<T>(&mut self, path: &str, span: Span, why: String) -> Option<T> {
        self.diags.push(
            Diagnostic::new(
                Code::SetFile,
                format!("cannot read set file \"{}\": {why}", quote(path)),
            )
            .label(span, "this file"),
        );
        None
    }

    /// The set file at `path` (named at `span`) opened, and whether its lines may be
    /// quoted ([`Placement`]); or the refusal, reported.
    fn open_set_file_at(&mut self, path: &str, span: Span) -> Option<(File, bool)> {
        match self.open_set_file(path) {
            Ok((f, Placement::Own)) => Some((f, true)),
            Ok((f, Placement::Allowed)) => Some((f, false)),
            Err(why) => self.refuse_set_file(path, span, why),
        }
    }

    /// The text of the opened set file `file` (at `path`, named at `span`), within
    /// what the set file size limit leaves; or the refusal, reported.
    fn set_file_text(&mut self, file: File, path: &str, span: Span) -> Option<String> {
        let refuse = |checker: &mut Self, why: String| checker.refuse_set_file(path, span, why);
        // The size limit counts the set files of a rule file together.
        let max_bytes = self.opts.limits.set_file_bytes;
        let read_before = self.set_file_bytes;
        let left = max_bytes.saturating_sub(read_before);
        match read_open(file, Limit::SetFileBytes, left) {
            Ok(bytes) => {
                self.set_file_bytes += bytes.len() as u64;
                match utf8(bytes) {
                    Ok(t) => Some(t),
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

/// The prefix an address element holds.
fn prefix(e: &Elem) -> IpNet {
    match e.value {
        SetElem::Prefix(n, _) => n,
        SetElem::Ports(..) => unreachable!("an address set holds prefixes"),
    }
}

/// A set of IPv4 prefixes only (fewer than 2^24 of them) as integers
/// (address, length, element index), sorted: the order [`sort_prefixes`] gives, equal
/// prefixes in the order written. `None` for any other set.
fn packed_v4(elems: &[Elem]) -> Option<Vec<u64>> {
    if elems.len() >= 1 << 24 {
        return None;
    }
    let mut keys: Vec<u64> = Vec::with_capacity(elems.len());
    for (i, e) in elems.iter().enumerate() {
        let SetElem::Prefix(IpNet::V4(n), _) = e.value else {
            return None;
        };
        keys.push(pack_v4(n, i as u64));
    }
    sort_packed(&mut keys);
    Some(keys)
}

/// Sorts by (address, length), which puts a covering prefix right before the
/// prefixes it covers; equal prefixes stay in the order written (the first is kept,
/// the others are reported as covered by it). Input already in that order (a set file
/// kept sorted) is only checked. (A set of IPv4 prefixes alone is sorted as packed
/// integers instead, [`packed_v4`].)
fn sort_prefixes<T: Copy>(nets: &mut [(IpNet, T)]) {
    let order = |n: &IpNet| (n.network(), n.prefix_len());
    if !nets.is_sorted_by(|a, b| order(&a.0) <= order(&b.0)) {
        nets.sort_by_key(|a| order(&a.0));
    }
}

/// Two sorted lists of addresses as one, each address once, and the addresses met more
/// than once (sorted, each once): one tight loop over two lists of integers (this runs
/// on one thread, over a million addresses).
fn merge_unique(a: Vec<u32>, b: Vec<u32>) -> (Vec<Ipv4Net>, Vec<u32>) {
    let mut kept: Vec<Ipv4Net> = Vec::with_capacity(a.len() + b.len());
    let mut repeated: Vec<u32> = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut last: Option<u32> = None;
    while i < a.len() || j < b.len() {
        let x = if j == b.len() || (i < a.len() && a[i] <= b[j]) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        if last == Some(x) {
            if repeated.last() != Some(&x) {
                repeated.push(x);
            }
            continue;
        }
        kept.push(Ipv4Net::from(std::net::Ipv4Addr::from_bits(x)));
        last = Some(x);
    }
    (kept, repeated)
}

/// The packed keys (address, /32, file line) of the lines of `text` (every line a
/// plain address) whose address is in `repeated` (sorted), sorted: the keys of every
/// line of an address written more than once, in the order the general sweep meets
/// them.
fn repeated_lines(text: &str, repeated: &[u32]) -> Vec<u64> {
    let mut keys: Vec<u64> = file_lines(text)
        .enumerate()
        .filter_map(|(i, l)| match l {
            FileLine::Plain(a) if repeated.binary_search(&a.to_bits()).is_ok() => {
                Some(pack_v4(Ipv4Net::from(a), i as u64 + 1))
            }
            // Another line (in a file that changed since its addresses were read, the
            // text read again for these lines) names no address.
            FileLine::Plain(_) | FileLine::Text(_) => None,
        })
        .collect();
    keys.sort_unstable();
    keys
}

/// Two sorted lists as one sorted sequence, taken as it is walked (the tests'
/// reference for the merge of [`Checker::uncovered_plain_v4`]).
#[cfg(test)]
fn merged<T: Ord>(a: Vec<T>, b: Vec<T>) -> impl Iterator<Item = T> {
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

fn at_line(l: Option<u32>) -> String {
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

#[cfg(test)]
mod tests {
    use super::super::set_lines::*;
    use super::*;

    /// The packed IPv4 path keeps and reports what the general path does: the same
    /// set with one IPv6 element added (which takes the general path) keeps the same
    /// IPv4 prefixes and reports the same overlaps.
    #[test]
    fn packed_ipv4_sets_keep_and_report_what_the_general_path_does() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..40 {
            let nets: Vec<String> = (0..60)
                .map(|_| {
                    let r = next();
                    let len = [8u8, 16, 24, 30, 31, 32][(r % 6) as usize];
                    // A few /8s, so that prefixes cover and repeat one another.
                    let addr = (10 + (r >> 8) as u32 % 3) << 24 | (r >> 16) as u32 & 0x00ff_ffff;
                    Ipv4Net::new(addr.into(), len).unwrap().trunc().to_string()
                })
                .collect();
            let run = |extra: &str| {
                let src = format!(
                    "set s = {{ {}{extra} }}\nxdp on eth0 {{ drop from @s; default allow }}\n",
                    nets.join(", ")
                );
                let opts = crate::driver::Options {
                    opt: crate::opt::OptLevel::O0,
                    ..Default::default()
                };
                let (c, diags) = crate::compile(&src, &opts);
                let c = c.expect("compiles");
                let overlaps: Vec<String> = diags
                    .iter()
                    .filter(|d| d.code == "sockc::set-overlap")
                    .map(|d| d.message.clone())
                    .collect();
                (c.module.sets.values().next().unwrap().v4.clone(), overlaps)
            };
            let packed = run("");
            assert!(!packed.1.is_empty(), "the /8s cover other elements");
            assert_eq!(packed, run(", 2001:db8::/32"), "{nets:?}");
        }
    }

    /// `drop from @s` at XDP (-O0) with `set s = file "FILE"` read from `dir`: the
    /// set's IPv4 contents and the compile's diagnostics.
    fn compile_set_file(
        dir: &std::path::Path,
        file: &str,
    ) -> (Vec<ipnet::Ipv4Net>, Vec<crate::diag::Diagnostic>) {
        let src =
            format!("set s = file \"{file}\"\nxdp on eth0 {{ drop from @s; default allow }}\n");
        let opts = crate::driver::Options {
            sema: crate::sema::Options {
                base_dir: Some(dir.to_path_buf()),
                ..Default::default()
            },
            opt: crate::opt::OptLevel::O0,
            ..Default::default()
        };
        let (c, diags) = crate::compile(&src, &opts);
        let v4 = c
            .expect("compiles")
            .module
            .sets
            .values()
            .next()
            .unwrap()
            .v4
            .clone();
        (v4, diags)
    }

    /// Sema calls the caller's hook once for each set file of a megabyte or more, a
    /// file of plain addresses or not, and never for a smaller one (`apply` reads its
    /// installed generation ahead then).
    #[test]
    fn a_large_set_file_is_told_to_the_hook_and_a_small_one_is_not() {
        let dir = std::env::temp_dir().join(format!("sockc-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for i in 0..100_000u32 {
            text += &format!("{}\n", std::net::Ipv4Addr::from(0x0a00_0000 | (i * 13)));
        }
        assert!(text.len() >= TWO_THREADS_FROM);
        std::fs::write(dir.join("large.txt"), &text).unwrap();
        std::fs::write(dir.join("other.txt"), format!("# a comment\n{text}")).unwrap();
        let small = text[..TWO_THREADS_FROM - 100].rfind('\n').unwrap() + 1;
        std::fs::write(dir.join("small.txt"), &text[..small]).unwrap();
        let calls = |file: &str| {
            let called = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let count = std::sync::Arc::clone(&called);
            let hook = move || {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            };
            let src =
                format!("set s = file \"{file}\"\nxdp on eth0 {{ drop from @s; default allow }}\n");
            let opts = crate::driver::Options {
                sema: crate::sema::Options {
                    base_dir: Some(dir.clone()),
                    on_large_set_file: Some(super::super::LargeSetFileHook(std::sync::Arc::new(
                        hook,
                    ))),
                    ..Default::default()
                },
                opt: crate::opt::OptLevel::O0,
                ..Default::default()
            };
            assert!(crate::compile(&src, &opts).0.is_some(), "{file}");
            called.load(std::sync::atomic::Ordering::SeqCst)
        };
        let got = [calls("large.txt"), calls("other.txt"), calls("small.txt")];
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, [1, 1, 0]);
    }

    /// A file set given its recorded elements (what a dry run reads an install with)
    /// takes them and reads no file; a set the record names empty reads its file.
    #[test]
    fn a_file_set_given_recorded_elements_takes_them_and_reads_no_file() {
        let src = "set s = file \"gone.txt\"\nset t = file \"gone.txt\"\n\
                   xdp on eth0 { drop from @s; drop from @t; default allow }\n";
        let v4: Vec<Ipv4Net> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.0.2.1/32".parse().unwrap(),
        ];
        let v6: Vec<Ipv6Net> = vec!["2001:db8::/32".parse().unwrap()];
        let compile = |t: (Vec<Ipv4Net>, Vec<Ipv6Net>)| {
            let lists = [
                ("s".to_string(), (v4.clone(), v6.clone())),
                ("t".to_string(), t),
            ];
            let opts = crate::driver::Options {
                sema: crate::sema::Options {
                    base_dir: Some(std::env::temp_dir().join("sockc-no-such-dir")),
                    recorded_sets: Some(std::sync::Arc::new(lists.into_iter().collect())),
                    ..Default::default()
                },
                opt: crate::opt::OptLevel::O0,
                ..Default::default()
            };
            crate::compile(src, &opts)
        };
        let (c, diags) = compile((v4[..1].to_vec(), Vec::new()));
        let sets: Vec<_> = c.expect("compiles").module.sets.values().cloned().collect();
        assert!(
            diags.iter().all(|d| d.code != "sockc::set-file"),
            "{diags:?}"
        );
        assert_eq!((&sets[0].v4, &sets[0].v6), (&v4, &v6));
        assert_eq!((&sets[1].v4[..], &sets[1].v6[..]), (&v4[..1], &[][..]));
        // Recorded empty: its file is read, and it is not there.
        let (c, diags) = compile((Vec::new(), Vec::new()));
        assert!(c.is_none());
        assert!(
            diags.iter().any(|d| d.code == "sockc::set-file"),
            "{diags:?}"
        );
    }

    /// A set file of IPv4 lines alone (kept packed) keeps and reports, with file
    /// lines, what the same file does with an IPv6 line at its end (read as elements).
    #[test]
    fn packed_set_files_keep_and_report_what_element_lists_do() {
        let dir = std::env::temp_dir().join(format!("sockc-packed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v4 = "10.0.0.0/8\n# comment\n10.1.2.3\n\n192.0.2.0/24\n10.1.2.3\n192.0.2.7\n9.9.9.9\n";
        std::fs::write(dir.join("a.txt"), v4).unwrap();
        std::fs::write(dir.join("b.txt"), format!("{v4}2001:db8::/32\n")).unwrap();
        let run = |file: &str| {
            let (v4, diags) = compile_set_file(&dir, file);
            let overlaps: Vec<String> = diags
                .iter()
                .filter(|d| d.code == "sockc::set-overlap")
                .map(|d| d.message.clone())
                .collect();
            (v4, overlaps)
        };
        let (packed, listed) = (run("a.txt"), run("b.txt"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(packed, listed);
        assert_eq!(
            packed.1,
            [
                "set `s`: 10.1.2.3/32 (file line 3) is covered by 10.0.0.0/8 (file line 1)",
                "set `s`: 10.1.2.3/32 (file line 6) is covered by 10.0.0.0/8 (file line 1)",
                "set `s`: 192.0.2.7/32 (file line 7) is covered by 192.0.2.0/24 (file line 5)",
            ]
        );
        assert_eq!(packed.0.len(), 3);
    }

    /// The two-thread read of a file of plain addresses gives the addresses the line by
    /// line read gives, sorted, wherever the halves split; any other line leaves it to
    /// the line by line read.
    #[test]
    fn plain_file_addrs_are_the_line_by_line_addresses() {
        let line_by_line = |text: &str| {
            let mut addrs: Vec<u32> = file_lines(text)
                .map(|l| match l {
                    FileLine::Plain(a) => a.to_bits(),
                    FileLine::Text(t) => panic!("{t:?} is not plain"),
                })
                .collect();
            addrs.sort_unstable();
            addrs
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for n in [1usize, 2, 3, 10, 5000] {
            let mut text = String::new();
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // A few hundred addresses: many repeated, as duplicates are.
                let a = std::net::Ipv4Addr::from(0x0a00_0000 | ((x % 300) as u32 * 7919));
                text += &format!("{a}\n");
            }
            let unended = text.trim_end().to_string();
            for t in [&text, &unended] {
                let (a, b) = plain_file_addrs(t).unwrap();
                assert_eq!(
                    merged(a, b).collect::<Vec<_>>(),
                    line_by_line(t),
                    "{n} lines"
                );
            }
            for odd in ["# c\n", "\n", "10.0.0.0/8\n", "10.0.0.1 \n", "x\n"] {
                assert_eq!(plain_file_addrs(&format!("{text}{odd}")), None, "{odd:?}");
                assert_eq!(plain_file_addrs(&format!("{odd}{text}")), None, "{odd:?}");
            }
        }
        assert_eq!(plain_file_addrs(""), Some((Vec::new(), Vec::new())));
        let both: Vec<u64> = merged(vec![1, 4, 9], vec![2, 4, 10, 11]).collect();
        assert_eq!(both, [1, 2, 4, 4, 9, 10, 11]);
        assert_eq!(merged(vec![], vec![3]).collect::<Vec<_>>(), [3]);
    }

    /// The block-by-block read of a file on two threads gives what the read of its
    /// whole text gives (the same addresses, or `None`), whatever the blocks' size and
    /// however many pieces it is cut into (pieces shorter than a line too): random files of plain addresses (many repeated), with
    /// and without a last line end, with an odd line put anywhere (a comment, a blank,
    /// a CRLF, a prefix, a leading zero, a blank after, an octet past 255, a byte that
    /// is not UTF-8, a long line); and `None` when the file is longer or shorter than
    /// the size it is read as (it changed).
    #[test]
    fn the_streamed_read_gives_what_the_whole_text_gives() {
        let dir = std::env::temp_dir().join(format!("sockc-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let odd: [&[u8]; 10] = [
            b"# c\n",
            b"\n",
            b"10.0.0.1\r\n",
            b"10.0.0.0/8\n",
            b"010.0.0.1\n",
            b"10.0.0.1 \n",
            b"10.0.0.256\n",
            b"10.0.\xff.1\n",
            b"10.0.0.1111111111111\n",
            b"1.2.3.4.5\n",
        ];
        let whole = |bytes: &[u8]| {
            let (a, b) = plain_file_addrs(std::str::from_utf8(bytes).ok()?)?;
            Some(merged(a, b).collect::<Vec<u32>>())
        };
        let path = dir.join("s.txt");
        for round in 0..400 {
            let n = [0, 1, 2, 3, 5, 40, 300][round % 7];
            let mut text: Vec<u8> = Vec::new();
            for _ in 0..n {
                let r = next();
                let a = std::net::Ipv4Addr::from((r >> 8) as u32 & [0xff, !0][(r & 1) as usize]);
                text.extend_from_slice(format!("{a}\n").as_bytes());
            }
            if round % 3 == 1 {
                text.pop();
            }
            if round % 2 == 0 {
                let line = odd[(next() % 10) as usize];
                let ends: Vec<usize> = std::iter::once(0)
                    .chain(memchr::memchr_iter(b'\n', &text).map(|e| e + 1))
                    .collect();
                let at = ends[(next() % ends.len() as u64) as usize];
                text.splice(at..at, line.iter().copied());
            }
            std::fs::write(&path, &text).unwrap();
            let file = File::open(&path).unwrap();
            let want = whole(&text);
            let size = text.len() as u64;
            for (block, pieces) in [
                (1, 2),
                (2, 3),
                (7, 1),
                (16, 5),
                (17, 2),
                (100, 16),
                (4096, 2),
            ] {
                let got = streamed_plain_addrs(&file, size, (block, pieces)).map(|(a, b)| {
                    assert!(a.is_sorted() && b.is_sorted());
                    merged(a, b).collect::<Vec<u32>>()
                });
                let shown = String::from_utf8_lossy(&text);
                assert_eq!(got, want, "{shown:?}, blocks of {block}, {pieces} pieces");
            }
            if size > 0 {
                assert_eq!(streamed_plain_addrs(&file, size - 1, (7, 3)), None, "grew");
            }
            assert_eq!(
                streamed_plain_addrs(&file, size + 1, (7, 3)),
                None,
                "shrank"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A large file of plain addresses, none repeated, read in pieces, compiles to
    /// what the line-by-line read gives, with no diagnostic; with a comment as its
    /// last line (the read in pieces gives up at the end), too, and the same
    /// diagnostics. (Files with repeats: the tests above.)
    #[test]
    fn a_large_plain_file_read_in_blocks_is_what_the_line_by_line_read_gives() {
        let dir = std::env::temp_dir().join(format!("sockc-blocks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        let mut i = 0u32;
        while text.len() <= TWO_THREADS_FROM {
            text += &format!(
                "{}\n",
                std::net::Ipv4Addr::from(0x0a00_0000 | (i * 7919 % (1 << 24)))
            );
            i += 1;
        }
        let (blocks, lines) = read_both_ways(&dir, &text);
        assert_eq!(blocks, lines);
        assert_eq!(blocks.0.len(), i as usize);
        assert!(blocks.1.is_empty(), "{:?}", blocks.1);
        let (blocks, lines) = read_both_ways(&dir, &format!("{text}# the end"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(blocks, lines);
        assert_eq!(blocks.0.len(), i as usize);
    }

    /// A set file's IPv4 contents and its diagnostics' messages.
    type SetRead = (Vec<ipnet::Ipv4Net>, Vec<String>);

    /// `text` compiled as a set file twice, from `dir`: as written (`two.txt`, read on
    /// two threads when large) and with a blank last line (`one.txt`, which sends it
    /// to the line-by-line read); each as its IPv4 contents and its messages.
    fn read_both_ways(dir: &std::path::Path, text: &str) -> (SetRead, SetRead) {
        std::fs::write(dir.join("two.txt"), text).unwrap();
        std::fs::write(dir.join("one.txt"), format!("{text}\n")).unwrap();
        let run = |file: &str| {
            let (v4, diags) = compile_set_file(dir, file);
            (v4, diags.into_iter().map(|d| d.message).collect())
        };
        (run("two.txt"), run("one.txt"))
    }

    /// A set file large enough to be read on two threads reports its duplicates as the
    /// same file read line by line does (a blank last line sends it there).
    #[test]
    fn a_large_plain_file_reports_what_the_line_by_line_read_does() {
        let dir = std::env::temp_dir().join(format!("sockc-two-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        let mut i = 0u32;
        while text.len() <= TWO_THREADS_FROM || i < 100_100 {
            // The last hundred lines repeat the first hundred addresses.
            let a = std::net::Ipv4Addr::from(0x0a00_0000 | ((i % 100_000) * 13));
            text += &format!("{a}\n");
            i += 1;
        }
        // Written three and four times, within the second half and across both; one
        // at the very end, another where the addresses sort first and last.
        for i in [5u32, 99_999, 5, 0, 77_777, 77_777] {
            text += &format!("{}\n", std::net::Ipv4Addr::from(0x0a00_0000 | (i * 13)));
        }
        let (two, one) = read_both_ways(&dir, &text);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(two, one);
        assert_eq!(two.0.len(), 100_000);
        // 106 repeats: 100 shown (the diagnostics' cap), the rest counted.
        assert_eq!(two.1.len(), 101, "{:?}", two.1);
        assert_eq!(two.1[100], "6 more warnings not shown");
        assert!(two.1[0].contains("is covered by"), "{:?}", two.1);
    }

    /// Repeats anywhere in a file read on two threads — an address written up to
    /// four times, in either half, out of order — are reported as the line by line
    /// read reports them (fewer than the diagnostics' cap, so every one is compared).
    #[test]
    fn repeats_anywhere_in_a_large_plain_file_are_reported_line_by_line() {
        let dir = std::env::temp_dir().join(format!("sockc-rep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3 {
            let n = 100_000u64;
            let addr = |i: u64| std::net::Ipv4Addr::from(0x0a00_0000 | (i * 7919 % n) as u32);
            let mut lines: Vec<u64> = (0..n).collect();
            for _ in 0..30 {
                let (what, copies) = (next() % n, 1 + next() % 3);
                for _ in 0..copies {
                    let at = (next() % (lines.len() as u64 + 1)) as usize;
                    lines.insert(at, what);
                }
            }
            let text: String = lines.iter().map(|&i| format!("{}\n", addr(i))).collect();
            assert!(text.len() >= TWO_THREADS_FROM);
            let (two, one) = read_both_ways(&dir, &text);
            assert_eq!(two, one, "round {round}");
            assert_eq!(two.0.len(), n as usize);
            assert_eq!(two.1.len(), lines.len() - n as usize, "round {round}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sort_addrs_sorts_as_sort_unstable() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u32
        };
        // The bits that differ between addresses: anywhere, a /8, a /24, a /31, one
        // bit, a few bits far apart, two bytes with one between them alike, and none.
        for mask in [
            !0u32,
            0xff_ffff,
            0xff,
            1,
            0x100,
            0x8000_0f01,
            0x00ff_00ff,
            0,
        ] {
            for n in [0usize, 1, 2, 3, 1000, 70_000] {
                let base = next();
                let mut addrs: Vec<u32> = (0..n).map(|_| base & !mask | next() & mask).collect();
                let mut want = addrs.clone();
                want.sort_unstable();
                sort_addrs(&mut addrs);
                assert_eq!(addrs, want, "{n} addresses, {mask:#x}");
                // Already sorted, and reversed.
                sort_addrs(&mut addrs);
                assert_eq!(addrs, want);
                addrs.reverse();
                sort_addrs(&mut addrs);
                assert_eq!(addrs, want);
            }
        }
    }

    #[test]
    fn sort_packed_sorts_as_sort_unstable() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in [0usize, 1, 2, 1000, 70_000] {
            let mut keys: Vec<u64> = (0..n)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Upper bits with digits every key shares and repeats, above
                    // the line order of a file's keys.
                    let high = if i % 3 == 0 {
                        x & 0xffff_0000_ff00_0000
                    } else {
                        (x % 5000) << 24
                    };
                    high | i as u64
                })
                .collect();
            // Out of line order (the fallback) as well as in it.
            let mut reversed = keys.clone();
            reversed.reverse();
            let mut want_reversed = reversed.clone();
            want_reversed.sort_unstable();
            sort_packed(&mut reversed);
            assert_eq!(reversed, want_reversed, "{n} keys out of line order");
            let mut want = keys.clone();
            want.sort_unstable();
            sort_packed(&mut keys);
            assert_eq!(keys, want, "{n} keys");
            // One length for every key, as a file of plain addresses packs them (the
            // length byte is then not sorted on), addresses repeated.
            let mut plain: Vec<u64> = (0..n)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ((x % 0x3_0000) | (x & 0xfff0_0000)) << 32 | 32 << 24 | i as u64
                })
                .collect();
            let mut want = plain.clone();
            want.sort_unstable();
            sort_packed(&mut plain);
            assert_eq!(plain, want, "{n} keys of one length");
            // Keys that differ in few bits (one pass, two, a digit of one bit): within
            // a /24, a /8, a /31, and only in their length.
            for (addresses, lengths) in [
                (0xff, 0),
                (0xff_ffff, 0),
                (1, 0),
                (0, 0x3f),
                (0xf0_0f00, 0x1f),
            ] {
                let mut few: Vec<u64> = (0..n)
                    .map(|i| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (0x0a00_0000 | x & addresses) << 32 | (x >> 40 & lengths) << 24 | i as u64
                    })
                    .collect();
                let mut want = few.clone();
                want.sort_unstable();
                sort_packed(&mut few);
                assert_eq!(few, want, "{n} keys, {addresses:x} {lengths:x}");
            }
        }
    }

    /// With 16 bytes in view, an address is read as byte by byte: random lines of
    /// digits, dots and line ends, each followed by more of them.
    #[test]
    fn leading_ipv4_reads_as_bytewise() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut plain = 0;
        for _ in 0..300_000 {
            let r = next();
            // Mostly short runs of digits between dots, as addresses are written.
            let mut text: Vec<u8> = (0..16 + (r % 8) as usize)
                .map(|i| {
                    let d = next();
                    match d % 11 {
                        0..=1 if i % 4 == 3 || r & 1 == 0 => b'.',
                        // Next to the digits and dots, and one with its high bit set.
                        2 => b"\n/ 0:-\xc3"[(d >> 8) as usize % 7],
                        _ => b'0' + [1, 2, 5, 9, 0, 2, 5][(d >> 12) as usize % 7],
                    }
                })
                .collect();
            if r % 3 == 0 {
                // An address of octets up to 299 written over the start.
                let octets = [next() % 300, next() % 300, next() % 300, next() % 300];
                let quad = format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]);
                text[..quad.len()].copy_from_slice(quad.as_bytes());
            }
            let want = leading_ipv4_bytewise(&text);
            plain += usize::from(want.is_some());
            assert_eq!(
                leading_ipv4(&text),
                want,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
        assert!(plain > 1000, "addresses among the lines: {plain}");
    }

    #[test]
    fn plain_ipv4_agrees_with_std_on_random_text() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 17) as usize;
            let text: String = (0..len)
                .map(|i| b"0123456789.0.5"[(x >> (4 + 4 * (i % 15)) & 0xf) as usize % 14] as char)
                .collect();
            assert_eq!(plain_ipv4(&text), text.parse().ok(), "{text:?}");
        }
    }

    #[test]
    fn file_lines_are_the_std_lines() {
        for text in [
            "",
            "\n",
            "\n\n",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "a\n\nb\n",
            "a\rb\n",
            "\r\n",
            "x\r",
            "1.2.3.4\n# c\n\n5.6.7.8",
            "1.2.3.4",
            "1.2.3.4\n",
            "1.2.3.4\r\n5.6.7.8\r",
            "1.2.3.4 \n 1.2.3.4\n1.2.3.4#c\n",
            "1.2.3.45a\n1.2.3.4567\n1.2.3.4.5\n1.2.3.4/32\n01.2.3.4\n256.1.1.1\n",
            "\n1.2.3.4\n\n",
            "1.2.3.\n1.2.3",
        ] {
            let ours: Vec<String> = file_lines(text)
                .map(|l| match l {
                    FileLine::Plain(a) => a.to_string(),
                    FileLine::Text(t) => t.trim().to_string(),
                })
                .collect();
            let std: Vec<&str> = text.lines().map(str::trim).collect();
            assert_eq!(ours, std, "{text:?}");
            // An address is taken as read only when it is all its line holds.
            for (line, std) in file_lines(text).zip(text.lines()) {
                if let FileLine::Plain(a) = line {
                    assert_eq!(Some(a), plain_ipv4(std), "{std:?} in {text:?}");
                }
            }
        }
    }

    #[test]
    fn plain_ipv4_reads_what_the_std_parser_reads() {
        for text in [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4/32",
            "1.2.3.+4",
            "1.2.3.1000",
            "",
            "::1",
            " 1.2.3.4",
        ] {
            assert_eq!(
                plain_ipv4(text),
                text.parse::<std::net::Ipv4Addr>().ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn prefixes_sort_by_address_then_length_keeping_written_order() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let input = [
            "10.0.0.0/24",
            "10.0.0.0/8",
            "192.0.2.1/32",
            "10.0.0.0/24",
            "9.0.0.0/8",
        ];
        let mut v4: Vec<(IpNet, usize)> = input.iter().map(|s| net(s)).zip(0..).collect();
        sort_prefixes(&mut v4);
        let order: Vec<usize> = v4.iter().map(|(_, i)| *i).collect();
        assert_eq!(
            order,
            [4, 1, 0, 3, 2],
            "the first of two equal prefixes first"
        );

        let mut mixed: Vec<(IpNet, usize)> = ["2001:db8::/32", "10.0.0.0/8", "2001:db8::/16"]
            .iter()
            .map(|s| net(s))
            .zip(0..)
            .collect();
        sort_prefixes(&mut mixed);
        let order: Vec<usize> = mixed.iter().map(|(_, i)| *i).collect();
        assert_eq!(order, [1, 2, 0]);

        let mut sorted: Vec<(IpNet, usize)> = ["9.0.0.0/8", "10.0.0.0/8"]
            .iter()
            .map(|s| net(s))
            .zip(0..)
            .collect();
        sort_prefixes(&mut sorted);
        assert_eq!(sorted[0].1, 0);
    }
}
