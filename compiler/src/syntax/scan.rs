//! The fast front end: a hand-written scanner that mirrors the pest grammar
//! (`grammar/sockc.pest`) for the file structure and for the common statement shapes,
//! and hands everything else to pest.
//!
//! pest costs about 9 µs per rule line (a rule call per token, per alternative tried and
//! per whitespace skip, each with a stack probe and error bookkeeping), so a
//! 100,000-rule file took ~900 ms to parse. The scanner reads the same lines at a few
//! hundred nanoseconds each.
//!
//! Invariant: the result is exactly [`super::parse_reference`]'s — the same AST, spans
//! and diagnostics — for every input. To keep that true by construction:
//! - every function here mirrors one grammar rule, in the grammar's order of
//!   alternatives, with pest's implicit whitespace (`skip`: blanks and comments) at
//!   exactly the places pest puts it (between the elements of a non-atomic sequence,
//!   and between the repetitions of `*`/`+`), which is why some spans include trailing
//!   blanks or a comment;
//! - the scanner only builds nodes that need no diagnostic: anything the AST builder
//!   would report (a bad address, a port out of range, a number with more than five
//!   digits) makes it give up on that statement ([`Bail`]), and pest parses the
//!   statement instead, with the AST builder of the pest path;
//! - items other than hook blocks (`set`, `socket`, lines that do not parse) and blocks
//!   that do not close go to pest one item at a time (what the scanner had reported
//!   for such a block is taken back first), and any other file-level irregularity
//!   (text after a block) sends the whole file to pest.
//!
//! `tests` below compares the two parsers on every rule file of the repository, the
//! ClassBench conversions, and many thousands of mutated and randomly generated files.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use self::lines::lines_before_close;
use super::{
    ast::*,
    build::Builder,
    decode::{decode_prefix, proto_by_name, tcp_flag_bit, verdict},
};
use crate::{
    byte_search::find_byte,
    diag::{Diagnostic, Span},
};

/// The scanner does not take this statement: pest parses it.
struct Bail;

/// A mirrored grammar rule at a position: `Ok(Some((node, end)))` when pest matches it
/// there (and the node needs no diagnostic), `Ok(None)` when pest fails there, `Err`
/// when the scanner leaves the decision to pest.
type Res<T> = Result<Option<(T, usize)>, Bail>;

/// Parses a whole file, or returns `None` when only pest can say what it is. At most
/// `max_diagnostics` errors (and warnings) are kept, as in the pest path.
pub(super) fn parse(src: &str, max_diagnostics: usize) -> Option<(File, Vec<Diagnostic>)> {
    parse_counting(src, max_diagnostics).map(|(file, diags, _)| (file, diags))
}

/// [`parse`], also saying how many items and statements went to pest.
fn parse_counting(src: &str, max_diagnostics: usize) -> Option<(File, Vec<Diagnostic>, usize)> {
    let mut file = Collect::default();
    let (diags, handovers) = scan_into(src, max_diagnostics, &mut file)?;
    Some((File { items: file.items }, diags, handovers))
}

/// Reads a whole file into `out`, in file order, or returns `None` when only pest can
/// say what it is (what `out` was given is then not the file) or `out` stopped.
pub(super) fn scan_into(
    src: &str,
    max_diagnostics: usize,
    out: &mut dyn Sink,
) -> Option<(Vec<Diagnostic>, usize)> {
    let s = src.as_bytes();
    let mut b = Builder::new(max_diagnostics);
    // file = { SOI ~ nl? ~ (item ~ (nl | &EOI | &hook_kw))* ~ EOI }
    let mut pos = skip(s, 0);
    if let Some(e) = nl(s, pos) {
        pos = skip(s, e);
    }
    while pos < s.len() && !out.stopped() {
        let end = match hook_block(&mut b, src, pos, out)? {
            Some(end) => end,
            None => {
                let mut items = Vec::new();
                let end = b.item_at(src, pos, &mut items)?;
                items.into_iter().for_each(|item| out.item(item));
                end
            }
        };
        let p = skip(s, end);
        match nl(s, p) {
            Some(e) => pos = skip(s, e),
            None if p == s.len() => break,
            None if hook_kw(s, p) => pos = p,
            None => return None,
        }
    }
    (!out.stopped()).then(|| (b.diags.finish(), b.handovers))
}

/// What the scanner hands what it reads to, in file order: a hook block it reads as
/// [`Sink::block`], its statements one by one, and [`Sink::block_end`]; any other item
/// (and a block pest read) whole, as [`Sink::item`]. A consumer that takes each
/// statement as it comes never holds a block's statements at once.
pub trait Sink {
    /// An item other than a block the scanner reads.
    fn item(&mut self, item: Item);
    /// A block the scanner reads begins; it has at most about `stmts` statements.
    fn block(&mut self, head: HookHead, head_span: Span, stmts: usize);
    /// The next statement of the block begun last. A sink done with a rule's match
    /// list may leave it in `spare`, emptied: the scanner fills it again for a later
    /// rule (an allocation and a free less per rule).
    fn stmt(&mut self, stmt: Stmt, spare: &mut Vec<Match>);
    /// The block begun last ends (closed, at `span`'s end).
    fn block_end(&mut self, span: Span);
    /// The block begun last is not one after all (it never closes, or text follows
    /// its `}`): pest reads that item again, whole, and it comes as [`Sink::item`].
    fn take_back(&mut self);
    /// Whether the sink takes no more: the scanner stops, and [`scan_into`] says `None`.
    fn stopped(&self) -> bool;
    /// The block begun last has about `lines` lines: the sink may read its statements
    /// from `at` on (where the block's loop would stand after the newlines of a line
    /// near its middle) elsewhere, with [`scan_stmts`]. True when it does: the scanner
    /// then asks [`Sink::taken_to`] once it stands at or past `at`.
    fn long_block(&mut self, _at: usize, _lines: usize) -> bool {
        false
    }
    /// The scanner stands at `at`, at or past where [`Sink::long_block`] said:
    /// `Some(end)` (`end > at`) when the sink has taken the statements from `at` to
    /// `end` as if they had come one by one; the scanner goes on at `end`.
    fn taken_to(&mut self, _at: usize) -> Option<usize> {
        None
    }
}

/// The [`Sink`] that builds the whole file's AST.
#[derive(Default)]
struct Collect {
    items: Vec<Item>,
    open: Option<HookBlock>,
}

impl Sink for Collect {
    fn item(&mut self, item: Item) {
        self.items.push(item);
    }

    fn block(&mut self, head: HookHead, head_span: Span, stmts: usize) {
        self.open = Some(HookBlock {
            head,
            head_span,
            stmts: Vec::with_capacity(stmts),
            span: head_span,
            closed: true,
        });
    }

    fn stmt(&mut self, stmt: Stmt, _spare: &mut Vec<Match>) {
        if let Some(b) = &mut self.open {
            b.stmts.push(stmt);
        }
    }

    fn block_end(&mut self, span: Span) {
        if let Some(mut b) = self.open.take() {
            b.span = span;
            self.items.push(Item::Hook(b));
        }
    }

    fn take_back(&mut self) {
        self.open = None;
    }

    fn stopped(&self) -> bool {
        false
    }
}

// ---- lexical helpers ------------------------------------------------------------------

/// `IDC`: what may not follow a keyword.
fn idc(b: Option<&u8>) -> bool {
    matches!(b, Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// pest's implicit whitespace: `WHITESPACE* ~ (COMMENT ~ WHITESPACE*)*`.
fn skip(s: &[u8], mut i: usize) -> usize {
    loop {
        while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
            i += 1;
        }
        if i < s.len() && s[i] == b'#' {
            while i < s.len() && s[i] != b'\n' && s[i] != b'\r' {
                i += 1;
            }
        } else {
            return i;
        }
    }
}

fn nl_char(b: u8) -> bool {
    b == b'\n' || b == b'\r' || b == b';'
}

/// Blocks shorter than this are never offered to be read in two halves.
const SPLIT_MIN_LINES: usize = 64;

/// Where a block's loop stands after the newlines of the first line that begins at
/// or after `i`: past blanks, comments and newlines (`nl` then `skip`). Only a guess
/// of where a statement begins (the line may be inside a set written over lines):
/// [`scan_stmts`]' result is used only when the loop does stand there.
fn line_after(s: &[u8], i: usize) -> usize {
    let mut at = find_byte(b'\n', &s[i.min(s.len())..]).map_or(s.len(), |n| i + n + 1);
    loop {
        let j = skip(s, at);
        if j < s.len() && nl_char(s[j]) {
            at = j + 1;
        } else {
            return j;
        }
    }
}

/// Reads a block's statements from `at` as [`hook_block`]'s loop does when it stands
/// there, handing each to `take` while it takes them; stops before the first one it
/// refuses, pest's (a [`Bail`]), or one after which the loop would not go on to
/// another statement. Returns where it stopped: the loop, standing there, goes on as
/// if it had read the statements before itself. Depends on nothing but `src` and
/// `at`, so it may run on another thread while the loop reads the block's first half.
/// `take` may leave a rule's match list in its second argument, as [`Sink::stmt`].
pub(crate) fn scan_stmts(
    src: &str,
    at: usize,
    take: &mut dyn FnMut(Stmt, &mut Vec<Match>) -> bool,
) -> usize {
    let s = src.as_bytes();
    let mut i = at;
    let mut spare = Vec::new();
    while i < s.len() && s[i] != b'}' && !hook_kw(s, i) {
        let Ok((st, end)) = stmt(src, i, &mut spare) else {
            return i;
        };
        let p = skip(s, end);
        let next = match nl(s, p) {
            Some(e) => skip(s, e),
            None if s.get(p) == Some(&b'}') => p,
            None => return i,
        };
        if !take(st, &mut spare) {
            return i;
        }
        i = next;
    }
    i
}

/// `nl = _{ (NEWLINE | ";")+ }`, with the implicit whitespace between repetitions.
fn nl(s: &[u8], i: usize) -> Option<usize> {
    if i >= s.len() || !nl_char(s[i]) {
        return None;
    }
    let mut end = i + 1;
    loop {
        let j = skip(s, end);
        if j < s.len() && nl_char(s[j]) {
            end = j + 1;
        } else {
            return Some(end);
        }
    }
}

/// A keyword: `word ~ !IDC`.
fn kw(s: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    let e = i + word.len();
    (s.len() >= e && &s[i..e] == word && !idc(s.get(e))).then_some(e)
}

fn digits(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn is_digit(b: Option<&u8>) -> bool {
    matches!(b, Some(c) if c.is_ascii_digit())
}

/// `ident = @{ (ASCII_ALPHA | "_") ~ (ASCII_ALPHANUMERIC | "_")* }`
fn ident_end(s: &[u8], i: usize) -> Option<usize> {
    match s.get(i) {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return None,
    }
    let mut e = i + 1;
    while e < s.len() && (s[e].is_ascii_alphanumeric() || s[e] == b'_') {
        e += 1;
    }
    Some(e)
}

fn ident(src: &str, i: usize) -> Option<(Ident, usize)> {
    let e = ident_end(src.as_bytes(), i)?;
    Some((
        Ident {
            name: src[i..e].to_string(),
            span: Span::new(i, e),
        },
        e,
    ))
}

/// The value of a run of digits when it is at most `max`; otherwise the AST builder
/// reports it, so the scanner gives up. (Long runs with leading zeros are in range but
/// rare: they go to pest too.)
fn number(s: &[u8], i: usize, e: usize, max: u32) -> Result<u32, Bail> {
    if e - i > 5 {
        return Err(Bail);
    }
    let n = s[i..e]
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    if n <= max {
        Ok(n)
    } else {
        Err(Bail)
    }
}

// ---- hook blocks ----------------------------------------------------------------------

/// `hook_kw = _{ kw_xdp | kw_tc | kw_sk_lookup | kw_sockmap | .. | kw_cgroup }`: what
/// starts a block head (the heads the scanner leaves to pest, `netfilter` and `cgroup`,
/// end a block the scanner reads all the same).
fn hook_kw(s: &[u8], i: usize) -> bool {
    // Asked at every statement, whose first letter (`allow`, `drop`) already says no.
    matches!(s.get(i), Some(b'x' | b't' | b's' | b'c'))
        && [&b"xdp"[..], b"tc", b"sk_lookup", b"sockmap", b"cgroup"]
            .iter()
            .any(|w| kw(s, i, w).is_some())
}

/// `hook_block = { hook_head ~ "{" ~ nl? ~ (stmt ~ (nl | &"}"))* ~ "}" }`, handed
/// to `out` as it is read; `Some(Some(end))` when it is a block the scanner reads.
/// `Some(None)`: not a block the scanner reads, such as one that never closes (pest
/// parses the item, as `unclosed_block` or `bad_block`; what `out` was given of it is
/// taken back); `None`: pest would fail the file here, so the whole file goes to pest.
fn hook_block(b: &mut Builder, src: &str, pos: usize, out: &mut dyn Sink) -> Option<Option<usize>> {
    let s = src.as_bytes();
    let Some((head, head_end)) = hook_head(src, pos) else {
        return Some(None);
    };
    let open = skip(s, head_end);
    if s.get(open) != Some(&b'{') {
        return Some(None);
    }
    let mut i = skip(s, open + 1);
    if let Some(e) = nl(s, i) {
        i = skip(s, e);
    }
    let (lines, close) = lines_before_close(s, i);
    out.block(head, Span::new(pos, head_end), lines);
    let mut split = (lines >= SPLIT_MIN_LINES)
        .then(|| line_after(s, i + (close - i) / 2))
        .filter(|&at| at < close && out.long_block(at, lines));
    // Anything the statements report is taken back if the block turns out to be
    // another item (one that never closes, or with text after its `}`): pest then
    // parses it whole.
    let checkpoint = (b.diags.checkpoint(), b.handovers);
    let not_mine = |b: &mut Builder, out: &mut dyn Sink| {
        b.diags.rollback(checkpoint.0);
        b.handovers = checkpoint.1;
        out.take_back();
        Some(None)
    };
    let mut pest_stmts = Vec::new();
    let mut spare = Vec::new();
    // `stmt` fails only at `}`, at a block head or at the end of the input
    // (`bad_stmt` takes anything else); the last two leave the block unclosed.
    while i < s.len() && s[i] != b'}' && !out.stopped() {
        if split.is_some_and(|at| i >= at) {
            split = None;
            if let Some(end) = out.taken_to(i) {
                i = end;
                continue;
            }
        }
        if hook_kw(s, i) {
            return not_mine(b, out);
        }
        let end = match stmt(src, i, &mut spare) {
            Ok((st, end)) => {
                out.stmt(st, &mut spare);
                end
            }
            Err(Bail) => {
                let end = b.stmt_at(src, i, &mut pest_stmts)?;
                pest_stmts.drain(..).for_each(|st| out.stmt(st, &mut spare));
                end
            }
        };
        let p = skip(s, end);
        if let Some(e) = nl(s, p) {
            i = skip(s, e);
        } else if s.get(p) == Some(&b'}') {
            i = p;
        } else if p >= s.len() {
            return not_mine(b, out);
        } else {
            return None;
        }
    }
    if i >= s.len() {
        return not_mine(b, out);
    }
    // item = _{ hook_block ~ &(nl | EOI) | ... }: text after the `}` on its line makes
    // it some other item.
    let after = skip(s, i + 1);
    if after < s.len() && !nl_char(s[after]) {
        return not_mine(b, out);
    }
    out.block_end(Span::new(pos, i + 1));
    Some(Some(i + 1))
}

/// `hook_head = _{ xdp_head | tc_head | sk_lookup_head | sockmap_head }`.
fn hook_head(src: &str, pos: usize) -> Option<(HookHead, usize)> {
    let s = src.as_bytes();
    // xdp_head = { kw_xdp ~ kw_on ~ (string | iface) }
    if let Some(e) = kw(s, pos, b"xdp") {
        let e = kw(s, skip(s, e), b"on")?;
        let (iface, e) = string_or_iface(src, skip(s, e))?;
        return Some((HookHead::Xdp { iface }, e));
    }
    // tc_head = { kw_tc ~ tc_dir ~ kw_on ~ (string | iface) }
    if let Some(e) = kw(s, pos, b"tc") {
        let j = skip(s, e);
        let (egress, e) = match (kw(s, j, b"ingress"), kw(s, j, b"egress")) {
            (Some(e), _) => (false, e),
            (None, Some(e)) => (true, e),
            (None, None) => return None,
        };
        let e = kw(s, skip(s, e), b"on")?;
        let (iface, e) = string_or_iface(src, skip(s, e))?;
        return Some((HookHead::Tc { egress, iface }, e));
    }
    // sk_lookup_head = { kw_sk_lookup }
    if let Some(e) = kw(s, pos, b"sk_lookup") {
        return Some((HookHead::SkLookup, e));
    }
    // sockmap_head = { kw_sockmap ~ sockmap_side? ~ kw_cgroup ~ string }
    let e = skip(s, kw(s, pos, b"sockmap")?);
    let (receive, e) = match (kw(s, e, b"send"), kw(s, e, b"receive")) {
        (Some(side), _) => (false, skip(s, side)),
        (None, Some(side)) => (true, skip(s, side)),
        (None, None) => (false, e),
    };
    let e = kw(s, e, b"cgroup")?;
    let (cgroup, e) = string(src, skip(s, e))?;
    Some((HookHead::Sockmap { cgroup, receive }, e))
}

/// `string = ${ "\"" ~ string_inner ~ "\"" }`, the text between the quotes.
fn string(src: &str, i: usize) -> Option<(String, usize)> {
    let s = src.as_bytes();
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let mut e = i + 1;
    while e < s.len() && s[e] != b'"' && s[e] != b'\n' && s[e] != b'\r' {
        e += 1;
    }
    (s.get(e) == Some(&b'"')).then(|| (src[i + 1..e].to_string(), e + 1))
}

/// `(string | iface)`, `iface = @{ (ASCII_ALPHANUMERIC | "_" | "-" | "." | "@")+ }`.
fn string_or_iface(src: &str, i: usize) -> Option<(String, usize)> {
    if let Some(r) = string(src, i) {
        return Some(r);
    }
    let s = src.as_bytes();
    let mut e = i;
    while e < s.len() && (s[e].is_ascii_alphanumeric() || b"_-.@".contains(&s[e])) {
        e += 1;
    }
    (e > i).then(|| (src[i..e].to_string(), e))
}

// ---- statements -----------------------------------------------------------------------

/// `stmt = _{ (default_stmt | rule_def) ~ &(nl | "}" | EOI) | misplaced_decl | bad_stmt }`,
/// without the last two alternatives (those are pest's). A rule's match list is
/// `spare`'s when it has room (see [`Sink::stmt`]).
fn stmt(src: &str, i: usize, spare: &mut Vec<Match>) -> Result<(Stmt, usize), Bail> {
    let s = src.as_bytes();
    // default_stmt = { kw_default ~ verdict }, verdict = @{ (...) ~ !IDC }
    let st = if let Some(e) = kw(s, i, b"default") {
        let j = skip(s, e);
        let e = [&b"allow"[..], b"drop", b"pass"]
            .iter()
            .find_map(|v| kw(s, j, v))
            .ok_or(Bail)?;
        let v = verdict(&src[j..e]);
        // `default VERDICT log` is pest's: `&(nl | "}")` below fails at `log`.
        (Stmt::Default(v, Span::new(i, e), None), e)
    } else {
        let r = rule_def(src, i, spare)?;
        let e = r.span.end;
        (Stmt::Rule(r), e)
    };
    // &(nl | "}" | EOI) after the implicit whitespace
    match s.get(skip(s, st.1)) {
        Some(b'\n' | b'\r' | b';' | b'}') | None => Ok(st),
        _ => Err(Bail),
    }
}

/// `rule_def = { action ~ match_item* ~ condition? ~ target? }`.
fn rule_def(src: &str, i: usize, spare: &mut Vec<Match>) -> Result<Rule, Bail> {
    let s = src.as_bytes();
    let (action, a_end) = action(s, i).ok_or(Bail)?;
    // `action ~ match_item*`: the first item right after the skip, each further one
    // after another skip; the repetition ends after its last item.
    let mut after_items = skip(s, a_end);
    let mut at = after_items;
    // Room for four at once (what the first push would make: a growth call less per
    // rule; a rule of the usual shape has four), unless a list given back has room.
    let mut matches = std::mem::take(spare);
    if matches.capacity() == 0 {
        matches = Vec::with_capacity(4);
    }
    while let Some(e) = match_item(src, at, &mut matches)? {
        after_items = e;
        at = skip(s, e);
    }
    let p = skip(s, after_items);
    let (cond, p) = match condition(s, p) {
        Some((c, e)) => (Some(c), e),
        None => (None, p),
    };
    let p = skip(s, p);
    let (target, ingress, end) = match target(src, p) {
        Some((t, ingress, e)) => (Some(Box::new(t)), ingress, e),
        None => (None, None, p),
    };
    Ok(Rule {
        action,
        action_span: Span::new(i, a_end),
        matches,
        cond,
        target,
        ingress,
        // `log` is pest's: the scanner bails at it (`&(nl | "}")` fails).
        log: None,
        // `reject` is pest's: the scanner has no such action.
        reject_with: None,
        span: Span::new(i, end),
    })
}

/// `action = @{ ("allow" | "drop" | "count" | "pass" | "redirect") ~ !IDC }`
fn action(s: &[u8], i: usize) -> Option<(ActionKw, usize)> {
    const ACTIONS: [(&[u8], ActionKw); 5] = [
        (b"allow", ActionKw::Allow),
        (b"drop", ActionKw::Drop),
        (b"count", ActionKw::Count),
        (b"pass", ActionKw::Pass),
        (b"redirect", ActionKw::Redirect),
    ];
    ACTIONS
        .iter()
        .find_map(|(w, a)| kw(s, i, w).map(|e| (*a, e)))
}

/// `condition = { kw_if ~ (socket_exists | no_socket | listening | established) }`
fn condition(s: &[u8], i: usize) -> Option<((SockCond, Span), usize)> {
    let j = skip(s, kw(s, i, b"if")?);
    let socket_exists = || kw(s, skip(s, kw(s, j, b"socket")?), b"exists");
    let no_socket = || kw(s, skip(s, kw(s, j, b"no")?), b"socket");
    let (c, e) = socket_exists()
        .map(|e| (SockCond::Exists, e))
        .or_else(|| no_socket().map(|e| (SockCond::NoSocket, e)))
        .or_else(|| kw(s, j, b"listening").map(|e| (SockCond::Listening, e)))
        .or_else(|| kw(s, j, b"established").map(|e| (SockCond::Established, e)))?;
    Some(((c, Span::new(i, e)), e))
}

/// `target = { kw_to ~ kw_sock ~ ident ~ kw_ingress? | local_target }`, with the span
/// of `ingress` when it is there.
fn target(src: &str, i: usize) -> Option<(Target, Option<Span>, usize)> {
    let s = src.as_bytes();
    let sock = || {
        let j = skip(s, kw(s, skip(s, kw(s, i, b"to")?), b"sock")?);
        ident(src, j)
    };
    if let Some((id, e)) = sock() {
        // `ident ~ kw_ingress?`: pest's implicit skip before the optional part stays
        // consumed when `ingress` is not there.
        let j = skip(s, e);
        return Some(match kw(s, j, b"ingress") {
            Some(k) => (Target::Sock(id), Some(Span::new(j, k)), k),
            None => (Target::Sock(id), None, j),
        });
    }
    kw(s, i, b"local").map(|e| (Target::Local(Span::new(i, e)), None, e))
}

/// `match_item = _{ proto | family | from | to | tcp_flag | icmp_type | icmp_code |
/// frag | endpoint }`: the item at `i` pushed onto the rule's list `out` where it is
/// made (returned, an item of 112 bytes was copied through the stack three times on
/// its way there), and where it ends.
fn match_item(src: &str, i: usize, out: &mut Vec<Match>) -> Result<Option<usize>, Bail> {
    let s = src.as_bytes();
    // Every alternative but `endpoint` starts with a lower-case letter or `!`. Each
    // keyword below is tried only where its first letter stands: the same order of
    // alternatives, without comparing the words that cannot match (most of the
    // scanner's own work per rule).
    let first = match s.get(i) {
        Some(&c) if c.is_ascii_lowercase() || c == b'!' => c,
        _ => return Ok(endpoint_at(src, i)?.map(|(ep, e)| push(out, Match::Dst(ep), e))),
    };
    // proto = { proto_name | kw_proto ~ (proto_name | number) }
    if let Some((p, e)) = proto_name(s, i) {
        return Ok(Some(push(out, Match::Proto(p, Span::new(i, e), false), e)));
    }
    if let Some(e) = (first == b'p').then(|| kw(s, i, b"proto")).flatten() {
        let j = skip(s, e);
        if let Some((p, e)) = proto_name(s, j) {
            return Ok(Some(push(out, Match::Proto(p, Span::new(i, e), false), e)));
        }
        let e = digits(s, j);
        if e > j {
            let n = number(s, j, e, 255)? as u8;
            return Ok(Some(push(
                out,
                Match::Proto(Some(n), Span::new(i, e), true),
                e,
            )));
        }
    }
    // family = @{ ("ip4" | "ip6") ~ !IDC }
    if first == b'i' {
        if let Some(r) = family(s, i, out) {
            return Ok(Some(r));
        }
    }
    // from = { kw_from ~ endpoint }, to = { kw_to ~ endpoint }
    let endpoint_kw = match first {
        b'f' => kw(s, i, b"from").map(|e| (e, true)),
        b't' => kw(s, i, b"to").map(|e| (e, false)),
        _ => None,
    };
    if let Some((e, is_src)) = endpoint_kw {
        if let Some((ep, e)) = endpoint(src, skip(s, e))? {
            let m = if is_src {
                Match::Src(ep)
            } else {
                Match::Dst(ep)
            };
            return Ok(Some(push(out, m, e)));
        }
    }
    match_item_rest(src, i, first, out)
}

/// `family = @{ ("ip4" | "ip6") ~ !IDC }` at `i`, pushed onto `out`: where it ends.
fn family(s: &[u8], i: usize, out: &mut Vec<Match>) -> Option<usize> {
    if let Some(e) = kw(s, i, b"ip4") {
        return Some(push(out, Match::Family(Family::V4, Span::new(i, e)), e));
    }
    let e = kw(s, i, b"ip6")?;
    Some(push(out, Match::Family(Family::V6, Span::new(i, e)), e))
}

/// [`match_item`]'s alternatives after `to`, at `i` whose first byte is `first`.
fn match_item_rest(
    src: &str,
    i: usize,
    first: u8,
    out: &mut Vec<Match>,
) -> Result<Option<usize>, Bail> {
    let s = src.as_bytes();
    // tcp_flag = { negate? ~ flag_name }
    let negated = s.get(i) == Some(&b'!');
    let j = if negated { skip(s, i + 1) } else { i };
    if let Some(e) = flag_name(s, j) {
        let flag = Match::Flag {
            bit: tcp_flag_bit(&src[j..e]),
            negated,
            span: Span::new(i, e),
        };
        return Ok(Some(push(out, flag, e)));
    }
    // icmp_type = { kw_type ~ (number | icmp_type_name) },
    // icmp_type_name = @{ ASCII_ALPHA ~ (ASCII_ALPHANUMERIC | "-")* }
    if let Some(e) = (first == b't').then(|| kw(s, i, b"type")).flatten() {
        let j = skip(s, e);
        let d = digits(s, j);
        if d > j {
            let t = IcmpType::Number(number(s, j, d, 255)? as u8);
            return Ok(Some(push(out, Match::IcmpType(t, Span::new(i, d)), d)));
        }
        if matches!(s.get(j), Some(c) if c.is_ascii_alphabetic()) {
            let mut e = j + 1;
            while e < s.len() && (s[e].is_ascii_alphanumeric() || s[e] == b'-') {
                e += 1;
            }
            let t = IcmpType::Name(src[j..e].to_string());
            return Ok(Some(push(out, Match::IcmpType(t, Span::new(i, e)), e)));
        }
    }
    // icmp_code = { kw_code ~ number }
    if let Some(e) = (first == b'c').then(|| kw(s, i, b"code")).flatten() {
        let j = skip(s, e);
        let d = digits(s, j);
        if d > j {
            let c = number(s, j, d, 255)? as u8;
            return Ok(Some(push(out, Match::IcmpCode(c, Span::new(i, d)), d)));
        }
    }
    // frag = @{ "frag" ~ !IDC }
    if let Some(e) = (first == b'f').then(|| kw(s, i, b"frag")).flatten() {
        return Ok(Some(push(out, Match::Frag(Span::new(i, e)), e)));
    }
    // A bare endpoint is a destination.
    Ok(endpoint(src, i)?.map(|(ep, e)| push(out, Match::Dst(ep), e)))
}

/// `out.push(m)`, then `end`: an item's end once it is on the list.
#[inline(always)]
fn push(out: &mut Vec<Match>, m: Match, end: usize) -> usize {
    out.push(m);
    end
}

/// [`endpoint`] where no keyword is: most often a rule's end (a newline), where no
/// endpoint can start (only a digit, a hexadecimal letter, `.`, `:`, `*`, `@` or `[`
/// can), said without trying each form of address there.
fn endpoint_at(src: &str, i: usize) -> Res<Endpoint> {
    match src.as_bytes().get(i) {
        Some(c) if c.is_ascii_hexdigit() || b".:*@[".contains(c) => endpoint(src, i),
        _ => Ok(None),
    }
}

/// `proto_name = @{ ("tcp" | "udp" | "icmpv6" | "icmp" | "any") ~ !IDC }`
fn proto_name(s: &[u8], i: usize) -> Option<(Option<u8>, usize)> {
    // Most words tried here are none (`ip4`, `from`, `to`): their first letter says so.
    if !matches!(s.get(i), Some(b't' | b'u' | b'i' | b'a')) {
        return None;
    }
    const NAMES: [&str; 5] = ["tcp", "udp", "icmpv6", "icmp", "any"];
    NAMES
        .iter()
        .find_map(|n| kw(s, i, n.as_bytes()).map(|e| (proto_by_name(n), e)))
}

/// `flag_name = @{ ("syn" | ... | "cwr") ~ !(IDC | ":") }`
fn flag_name(s: &[u8], i: usize) -> Option<usize> {
    const FLAGS: [&[u8]; 8] = [
        b"syn", b"ack", b"fin", b"rst", b"psh", b"urg", b"ece", b"cwr",
    ];
    let e = i + 3;
    (s.len() >= e && FLAGS.contains(&&s[i..e]) && !idc(s.get(e)) && s.get(e) != Some(&b':'))
        .then_some(e)
}

// ---- endpoints ------------------------------------------------------------------------

/// `endpoint = { (addr ~ (":" ~ port)? | "[" ~ addr_v6 ~ "]" ~ (":" ~ port)?) }`
fn endpoint(src: &str, i: usize) -> Res<Endpoint> {
    let s = src.as_bytes();
    if let Some((addr, e)) = addr(src, i)? {
        let (port, end) = opt_port(src, e)?;
        let ep = Endpoint {
            addr,
            port,
            span: Span::new(i, end),
        };
        return Ok(Some((ep, end)));
    }
    if s.get(i) != Some(&b'[') {
        return Ok(None);
    }
    // addr_v6 = _{ prefix6 }
    let j = skip(s, i + 1);
    let Some(e) = prefix6_end(s, j) else {
        return Ok(None);
    };
    let k = skip(s, e);
    if s.get(k) != Some(&b']') {
        return Ok(None);
    }
    let net = decode_prefix(&src[j..e]).map_err(|_| Bail)?;
    let (port, end) = opt_port(src, k + 1)?;
    let ep = Endpoint {
        addr: AddrSpec::Prefix(net, Span::new(j, e)),
        port,
        span: Span::new(i, end),
    };
    Ok(Some((ep, end)))
}

/// `~ (":" ~ port)?` after an address ending at `e`: the port, and where the endpoint
/// ends (after the implicit whitespace when there is no port).
fn opt_port(src: &str, e: usize) -> Result<(Option<PortSpec>, usize), Bail> {
    let s = src.as_bytes();
    let p = skip(s, e);
    if s.get(p) == Some(&b':') {
        if let Some((port, end)) = port(src, skip(s, p + 1))? {
            return Ok((Some(port), end));
        }
    }
    Ok((None, p))
}

/// `addr = _{ any_addr | set_ref | addr_prefix }`
fn addr(src: &str, i: usize) -> Res<AddrSpec> {
    let s = src.as_bytes();
    match s.get(i) {
        // any_addr = { "*" }
        Some(b'*') => return Ok(Some((AddrSpec::Any(Span::new(i, i + 1)), i + 1))),
        // set_ref = ${ "@" ~ ident }; nothing else starts with `@`
        Some(b'@') => return Ok(ident(src, i + 1).map(|(id, e)| (AddrSpec::Set(id), e))),
        _ => {}
    }
    // addr_prefix = _{ prefix4 | prefix6 }
    if let Some((e, quick)) = prefix4(s, i) {
        let net = match quick {
            Some(net) => net,
            None => decode_prefix(&src[i..e]).map_err(|_| Bail)?,
        };
        return Ok(Some((AddrSpec::Prefix(net, Span::new(i, e)), e)));
    }
    let Some(e) = prefix6_end(s, i) else {
        return Ok(None);
    };
    let net = decode_prefix(&src[i..e]).map_err(|_| Bail)?;
    Ok(Some((AddrSpec::Prefix(net, Span::new(i, e)), e)))
}

/// `("/" ~ ASCII_DIGIT+)?` after an address ending at `e`.
fn opt_len(s: &[u8], e: usize) -> usize {
    if s.get(e) == Some(&b'/') && is_digit(s.get(e + 1)) {
        digits(s, e + 1)
    } else {
        e
    }
}

/// `prefix4 = @{ ipv4 ~ ("/" ~ ASCII_DIGIT+)? }`,
/// `ipv4 = @{ ASCII_DIGIT+ ~ ("." ~ ASCII_DIGIT+){3} }`: where the token ends, and its
/// value when the text is in its everyday form — four groups of one to three digits
/// without leading zeros, each at most 255, a length of one or two digits without a
/// leading zero at most 32, and no host bits ([`prefix4_everyday`]). For those texts
/// that is what [`decode_prefix`] makes of them (through `IpAddr::from_str`), without
/// its string searching and parsing; any other text goes to [`decode_prefix`].
fn prefix4(s: &[u8], i: usize) -> Option<(usize, Option<IpNet>)> {
    match prefix4_everyday(s, i) {
        Some((e, net)) => Some((e, Some(net))),
        None => prefix4_end(s, i).map(|e| (e, None)),
    }
}

/// Where the `prefix4` token at `i` ends, whatever its digits say.
fn prefix4_end(s: &[u8], i: usize) -> Option<usize> {
    let mut e = i;
    for group in 0..4 {
        if group > 0 {
            if s.get(e) != Some(&b'.') || !is_digit(s.get(e + 1)) {
                return None;
            }
            e += 1;
        }
        let d = digits(s, e);
        if d == e {
            return None;
        }
        e = d;
    }
    Some(opt_len(s, e))
}

/// [`prefix4`] of a text in its everyday form (see there), read in one pass: each
/// digit looked at once (`digits` then a fold looked at each twice, the most of a
/// 1k-rule file's address parsing); `None` for any other text, which [`prefix4`]
/// reads the long way. A group or length here ends at a character that is not a
/// digit, so it is the token [`prefix4`]'s `digits` would read.
fn prefix4_everyday(s: &[u8], i: usize) -> Option<(usize, IpNet)> {
    let mut addr = 0u32;
    let mut e = i;
    for group in 0..4 {
        if group > 0 {
            if s.get(e) != Some(&b'.') {
                return None;
            }
            e += 1;
        }
        let (v, n) = small_number(s, e, 3)?;
        if v > 255 {
            return None;
        }
        addr = addr << 8 | v;
        e += n;
    }
    let mut len = 32;
    if s.get(e) == Some(&b'/') && is_digit(s.get(e + 1)) {
        let (v, n) = small_number(s, e + 1, 2)?;
        len = v;
        e += 1 + n;
    }
    let host_bits = u32::MAX.checked_shr(len).unwrap_or(0);
    if len > 32 || addr & host_bits != 0 {
        return None;
    }
    let net = Ipv4Net::new(Ipv4Addr::from(addr), len as u8).ok()?;
    Some((e, IpNet::V4(net)))
}

/// The run of digits at `i` when it has one to `max` digits, no leading zero (but
/// `0` itself), and no digit after it: its value and length.
#[inline(always)]
fn small_number(s: &[u8], i: usize, max: usize) -> Option<(u32, usize)> {
    let digit = |k: usize| {
        s.get(k)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u32::from(c - b'0'))
    };
    let first = digit(i)?;
    let mut v = first;
    let mut n = 1;
    while let Some(d) = digit(i + n) {
        if n == max || first == 0 {
            return None;
        }
        v = v * 10 + d;
        n += 1;
    }
    Some((v, n))
}

/// `prefix6 = @{ ipv6 ~ ("/" ~ ASCII_DIGIT+)? }`,
/// `ipv6 = @{ (ASCII_HEX_DIGIT | "." )* ~ ":" ~ (ASCII_HEX_DIGIT | ":" | ".")* }`
fn prefix6_end(s: &[u8], i: usize) -> Option<usize> {
    let mut e = i;
    while e < s.len() && (s[e].is_ascii_hexdigit() || s[e] == b'.') {
        e += 1;
    }
    if s.get(e) != Some(&b':') {
        return None;
    }
    e += 1;
    while e < s.len() && (s[e].is_ascii_hexdigit() || s[e] == b':' || s[e] == b'.') {
        e += 1;
    }
    Some(opt_len(s, e))
}

/// `port = { any_port | port_set | port_range | port_num }`
fn port(src: &str, i: usize) -> Res<PortSpec> {
    let s = src.as_bytes();
    match s.get(i) {
        // any_port = { "*" }
        Some(b'*') => Ok(Some((PortSpec::Any(Span::new(i, i + 1)), i + 1))),
        // port_set = ${ "@" ~ ident }
        Some(b'@') => Ok(ident(src, i + 1).map(|(id, e)| (PortSpec::Set(id), e))),
        Some(c) if c.is_ascii_digit() => {
            let e = digits(s, i);
            // port_range = ${ number ~ "-" ~ number }, else port_num = { number }
            if s.get(e) == Some(&b'-') && is_digit(s.get(e + 1)) {
                let e2 = digits(s, e + 1);
                let lo = number(s, i, e, 65535)? as u16;
                let hi = number(s, e + 1, e2, 65535)? as u16;
                if lo > hi {
                    return Err(Bail);
                }
                Ok(Some((PortSpec::Range(lo, hi, Span::new(i, e2)), e2)))
            } else {
                let n = number(s, i, e, 65535)? as u16;
                Ok(Some((PortSpec::Range(n, n, Span::new(i, e)), e)))
            }
        }
        _ => Ok(None),
    }
}

mod lines;
#[cfg(test)]
mod tests;
