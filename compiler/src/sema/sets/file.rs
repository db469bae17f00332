//! Set files: where one may come from and how it is read.
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

use ipnet::{IpNet, Ipv4Net};

use super::{merge_unique, pack_v4, Elem, Elems};
use crate::{
    diag::{quote, Code, Diagnostic, Span},
    input::{open_beneath, read_open, utf8, InputError},
    limits::{amount, Limit},
    sema::{
        set_lines::{
            file_lines, plain_file_addrs, plain_ipv4, streamed_plain_addrs, FileLine, STREAM_BLOCK,
            STREAM_PIECES, TWO_THREADS_FROM,
        },
        Checker,
    },
    syntax::ast::SetElem,
};

/// Where a set file was opened.
pub(in crate::sema) enum Placement {
    /// Beneath the rule file's directory: its lines may be quoted.
    Own,
    /// In a `--set-dir` tree: read, never quoted.
    Allowed,
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
    /// Opens the set file at `path` where it may be read from ([`Placement`]), or
    /// says why not. Tried beneath the rule file's directory first, then beneath each
    /// `--set-dir` tree its text lies in; a link from one allowed tree into a
    /// `--set-dir` tree is followed last, and kept only if the descriptor opened is in
    /// a `--set-dir` tree (never quoted).
    pub(in crate::sema) fn open_set_file(&self, path: &str) -> Result<(File, Placement), String> {
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
    pub(super) fn read_set_file(&mut self, path: &str, span: Span) -> Option<Elems> {
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
