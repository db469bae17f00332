//! The residual of an nft text ruleset, in nft text: the source's own table blocks,
//! tables renamed to sockc's, base chains at shared places turned into dispatchers,
//! the chains they reach copied twice ([`super::layout`]), each rule copied from its
//! source text with only its verdict words and jump targets changed.
//!
//! Invariant: a rule's text is the source's, token for token, except `accept`/`drop`
//! words, `jump`/`goto` targets and `@map` names of verdict maps; every other object of
//! a table (sets, maps, counters, flowtables ...) is copied as it is written, once per
//! table (verdict maps once per copy of the chains that use them).

use std::fmt::Write as _;

use super::{
    kept_mode,
    layout::Layout,
    names::{self, nft, Copy},
    plan::Plan,
    sees_ipv6, Built, Dispatcher, VerdictMode, EXT_HEADERS,
};
use crate::{
    model::Ruleset,
    nft::lex::{self, Kind, Tok},
};

/// One chain block of the source: its statements other than rules (`type ...`,
/// `policy ...`, `comment ...`) and its rules, as token ranges.
struct ChainSk {
    name: String,
    head: Vec<(usize, usize)>,
    rules: Vec<(usize, usize)>,
}

/// One table block: its `flags`/`comment` statements, its chains and its other objects
/// (sets, maps, flowtables ...) as token ranges.
struct TableSk {
    family: String,
    name: String,
    head: Vec<(usize, usize)>,
    chains: Vec<ChainSk>,
    objects: Vec<(usize, usize)>,
}

/// Reads the table blocks' structure, as `nft::text` reads it (the reader has already
/// accepted the text, so this only finds the ranges).
fn skeleton(toks: &[Tok]) -> Option<Vec<TableSk>> {
    let mut w = Walk { t: toks, i: 0 };
    let mut tables = Vec::new();
    loop {
        w.skip_blank();
        let Some(tok) = w.peek() else { break };
        if tok.is("table") {
            w.i += 1;
            tables.push(w.table()?);
        } else {
            // `flush ruleset`: a residual never flushes anything
            w.statement();
        }
    }
    Some(tables)
}

struct Walk<'a> {
    t: &'a [Tok],
    i: usize,
}

impl Walk<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }

    fn skip_blank(&mut self) {
        while self
            .peek()
            .is_some_and(|t| t.kind == Kind::Newline || t.is(";"))
        {
            self.i += 1;
        }
    }

    /// The tokens to the end of the statement (a line end, `;` or `}` outside braces).
    fn statement(&mut self) -> (usize, usize) {
        let start = self.i;
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            if depth == 0 && (t.kind == Kind::Newline || t.is(";") || t.is("}")) {
                break;
            }
            if t.is("{") {
                depth += 1;
            } else if t.is("}") {
                depth -= 1;
            }
            self.i += 1;
        }
        (start, self.i)
    }

    /// `KIND NAME ... { ... }` with nested braces.
    fn block(&mut self) -> Option<(usize, usize)> {
        let start = self.i;
        while self.peek().is_some_and(|t| !t.is("{")) {
            self.i += 1;
        }
        let mut depth = 0usize;
        loop {
            let t = self.peek()?;
            if t.is("{") {
                depth += 1;
            } else if t.is("}") {
                depth -= 1;
                if depth == 0 {
                    self.i += 1;
                    return Some((start, self.i));
                }
            }
            self.i += 1;
        }
    }

    fn table(&mut self) -> Option<TableSk> {
        let first = self.peek()?.text.clone();
        self.i += 1;
        let (family, name) = if self.peek()?.is("{") {
            ("ip".to_string(), first)
        } else {
            let n = self.peek()?.text.clone();
            self.i += 1;
            (first, n)
        };
        self.i += 1; // `{`
        let mut table = TableSk {
            family,
            name,
            head: Vec::new(),
            chains: Vec::new(),
            objects: Vec::new(),
        };
        loop {
            self.skip_blank();
            let t = self.peek()?.clone();
            if t.is("}") {
                self.i += 1;
                return Some(table);
            }
            match t.text.as_str() {
                "chain" => {
                    self.i += 1;
                    table.chains.push(self.chain()?);
                }
                "flags" | "comment" => table.head.push(self.statement()),
                _ => table.objects.push(self.block()?),
            }
        }
    }

    fn chain(&mut self) -> Option<ChainSk> {
        let name = self.peek()?.text.clone();
        while self.peek().is_some_and(|t| !t.is("{")) {
            self.i += 1;
        }
        self.i += 1; // `{`
        let mut c = ChainSk {
            name,
            head: Vec::new(),
            rules: Vec::new(),
        };
        loop {
            self.skip_blank();
            let t = self.peek()?.clone();
            if t.is("}") && t.kind == Kind::Punct {
                self.i += 1;
                return Some(c);
            }
            let head = t.kind == Kind::Word
                && matches!(
                    t.text.as_str(),
                    "type" | "policy" | "comment" | "devices" | "device" | "flags"
                );
            let range = self.statement();
            if head {
                c.head.push(range);
            } else {
                c.rules.push(range);
            }
        }
    }
}

/// An edit of a rule's (or a verdict map's) tokens: verdict words per `mode`, jump
/// targets and verdict-map names renamed by `chain` and `map` (`None`: unchanged).
struct Edit<'a> {
    mode: VerdictMode,
    chain: &'a dyn Fn(&str) -> Option<String>,
    map: &'a dyn Fn(&str) -> Option<String>,
}

impl Edit<'_> {
    /// The text of `toks` (tokens of `text`) with the edit made; what lies between
    /// tokens (blanks, line breaks inside braces) is kept as it is.
    fn apply(&self, text: &str, toks: &[Tok]) -> String {
        let mut out = String::new();
        let mut prev: Option<usize> = None;
        let mut after_jump = false;
        for t in toks {
            if let Some(end) = prev {
                out.push_str(&text[end..t.start]);
            }
            let word = matches!(t.kind, Kind::Word | Kind::Str);
            let replaced = if after_jump && word {
                (self.chain)(&t.text).map(|n| quote(&n))
            } else if t.kind == Kind::Word {
                match (t.text.as_str(), self.mode) {
                    ("accept", VerdictMode::Keep) => Some(format!("jump {}", nft::ACCEPTED)),
                    ("drop", VerdictMode::Defer) => Some("accept".to_string()),
                    (w, _) => w
                        .strip_prefix('@')
                        .and_then(|m| (self.map)(m))
                        .map(|n| format!("@{n}")),
                }
            } else {
                None
            };
            after_jump = t.kind == Kind::Word && (t.text == "jump" || t.text == "goto");
            out.push_str(replaced.as_deref().unwrap_or(&text[t.start..t.end]));
            prev = Some(t.end);
        }
        out
    }
}

/// Writes the residual of nft text `text` (which `rs` was read from), with `mark` the
/// bit a kept accept and the `full` mode set.
pub fn write(text: &str, rs: &Ruleset, plan: &Plan, layout: &Layout, mark: u32) -> Option<Built> {
    let toks = lex::tokens(text).ok()?;
    let tables = skeleton(&toks)?;
    if tables.len() != rs.tables.len() {
        return None;
    }
    let mut built = Built::default();
    for (ti, t) in tables.iter().enumerate() {
        let model = &rs.tables[ti];
        if t.chains.len() != model.chains.len()
            || t.chains
                .iter()
                .zip(&model.chains)
                .any(|(a, b)| a.rules.len() != b.rules.len())
        {
            return None;
        }
        let w = TableWriter {
            text,
            toks: &toks,
            rs,
            plan,
            layout,
            ti,
            t,
            mark,
        };
        w.write(&mut built);
    }
    Some(built)
}

struct TableWriter<'a> {
    text: &'a str,
    toks: &'a [Tok],
    rs: &'a Ruleset,
    plan: &'a Plan,
    layout: &'a Layout,
    ti: usize,
    t: &'a TableSk,
    mark: u32,
}

impl TableWriter<'_> {
    fn write(&self, built: &mut Built) {
        let out = &mut built.text;
        let table = names::nft_table(&self.t.name);
        let _ = writeln!(out, "table {} {} {{", self.t.family, quote(&table));
        let _ = writeln!(out, "\tcomment \"{}\"", names::nft_table_comment());
        for h in &self.t.head {
            let s = self.src(*h);
            if !s.starts_with("comment") {
                let _ = writeln!(out, "\t{s}");
            }
        }
        let copies = &self.layout.copies[self.ti];
        for &o in &self.t.objects {
            match self.verdict_map(o) {
                None => {
                    let _ = writeln!(out, "\t{}", self.src(o));
                }
                Some(name) => {
                    let (same, split) = self.layout.map_copies(self.rs, self.ti, &name);
                    if same {
                        let _ = writeln!(out, "\t{}", self.src(o));
                    }
                    if split {
                        for (copy, mode) in [
                            (Copy::Kept, VerdictMode::Keep),
                            (Copy::Whole, VerdictMode::Same),
                        ] {
                            let body = self.edited((o.0 + 2, o.1), copy, mode);
                            let _ = writeln!(out, "\tmap {} {body}", quote(&copy.name(&name)));
                        }
                    }
                }
            }
        }
        for (ci, c) in self.t.chains.iter().enumerate() {
            let cp = copies[ci];
            if cp.dispatch {
                self.dispatcher(out, ci, c);
                built.dispatchers.push(Dispatcher {
                    family: self.t.family.clone(),
                    table: table.clone(),
                    chain: c.name.clone(),
                });
            }
            if cp.same && !cp.dispatch {
                self.chain_block(out, ci, Copy::Same);
            }
            if cp.split {
                self.chain_block(out, ci, Copy::Kept);
                self.chain_block(out, ci, Copy::Whole);
            }
        }
        if copies.iter().any(|c| c.split) {
            let _ = writeln!(
                out,
                "\tchain {} {{\n\t\tmeta mark set meta mark | {:#010x}\n\t\taccept\n\t}}",
                nft::ACCEPTED,
                self.mark
            );
        }
        out.push_str("}\n");
    }

    fn src(&self, (a, b): (usize, usize)) -> &str {
        if a >= b {
            return "";
        }
        &self.text[self.toks[a].start..self.toks[b - 1].end]
    }

    /// The name of the verdict map object at `range`, if it is one.
    fn verdict_map(&self, (a, _): (usize, usize)) -> Option<String> {
        if !self.toks.get(a)?.is("map") {
            return None;
        }
        let name = &self.toks.get(a + 1)?.text;
        self.rs
            .sets
            .iter()
            .any(|s| s.table == Some(self.ti) && &s.name == name && s.verdicts.is_some())
            .then(|| name.clone())
    }

    /// Tokens `range` with the edit of `copy` and `mode`.
    fn edited(&self, (a, b): (usize, usize), copy: Copy, mode: VerdictMode) -> String {
        let t = &self.rs.tables[self.ti];
        let chain = |name: &str| t.chain(name).map(|_| copy.name(name));
        let map = |name: &str| {
            self.rs
                .sets
                .iter()
                .any(|s| s.table == Some(self.ti) && s.name == name && s.verdicts.is_some())
                .then(|| copy.name(name))
        };
        let e = Edit {
            mode,
            chain: &chain,
            map: &map,
        };
        e.apply(self.text, &self.toks[a..b])
    }

    /// A base chain at a shared place: its head with policy accept and one rule going
    /// to its `min` mode chain; then the two mode chains.
    fn dispatcher(&self, out: &mut String, ci: usize, c: &ChainSk) {
        let _ = writeln!(out, "\tchain {} {{", quote(&c.name));
        for h in &c.head {
            let s = self.src(*h);
            if !s.starts_with("policy") {
                let _ = writeln!(out, "\t\t{s};");
            }
        }
        let _ = writeln!(out, "\t\tpolicy accept;");
        let _ = writeln!(out, "\t\tgoto {}", quote(&nft::min(&c.name)));
        out.push_str("\t}\n");
        let p = Layout::policies(self.rs, self.plan, self.ti, ci);
        let verdict = |drop: bool| if drop { "drop" } else { "accept" };
        // The bit is cleared first: a packet that comes with it (a socket's SO_MARK)
        // would otherwise pass sockc's block as decided here. Then an IPv6 packet with
        // extension headers goes to the full chain, where netfilter decides it (and
        // marks it), whatever sockc's walk would have made of the chain.
        let _ = writeln!(
            out,
            "\tchain {} {{\n\t\tmeta mark set meta mark & {:#010x}",
            quote(&nft::min(&c.name)),
            !self.mark,
        );
        if sees_ipv6(self.rs, self.ti) {
            let numbers: Vec<String> = EXT_HEADERS.iter().map(u8::to_string).collect();
            let _ = writeln!(
                out,
                "\t\tip6 nexthdr {{ {} }} goto {}",
                numbers.join(", "),
                quote(&nft::full(&c.name))
            );
        }
        let _ = writeln!(
            out,
            "\t\tjump {}\n\t\t{}\n\t}}",
            quote(&nft::kept(&c.name)),
            verdict(p.min_drop)
        );
        let _ = writeln!(
            out,
            "\tchain {} {{\n\t\tmeta mark set meta mark | {:#010x}\n\t\tjump {}\n\t\t{}\n\t}}",
            quote(&nft::full(&c.name)),
            self.mark,
            quote(&nft::whole(&c.name)),
            verdict(p.full_drop)
        );
    }

    /// One copy of chain `ci` (with the source's head, for a chain kept as it is).
    fn chain_block(&self, out: &mut String, ci: usize, copy: Copy) {
        let sk = &self.t.chains[ci];
        let _ = writeln!(out, "\tchain {} {{", quote(&copy.name(&sk.name)));
        if copy == Copy::Same {
            for r in &sk.head {
                let _ = writeln!(out, "\t\t{};", self.src(*r));
            }
        }
        let ids = &self.rs.tables[self.ti].chains[ci].rules;
        for (range, id) in sk.rules.iter().zip(ids) {
            let mode = match copy {
                Copy::Same | Copy::Whole => VerdictMode::Same,
                Copy::Kept => {
                    let named_vmap = self.toks[range.0..range.1]
                        .windows(2)
                        .any(|w| w[0].is("vmap") && w[1].text.starts_with('@'));
                    match kept_mode(self.plan, self.rs, *id, named_vmap) {
                        None => continue,
                        Some(m) => m,
                    }
                }
            };
            let _ = writeln!(out, "\t\t{}", self.edited(*range, copy, mode));
        }
        out.push_str("\t}\n");
    }
}

/// A name as nft reads it: bare when it is an identifier, quoted otherwise.
fn quote(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    if plain {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}
