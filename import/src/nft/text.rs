//! The `nft list ruleset` reader (and scripts made of table blocks, such as
//! `/etc/nftables.conf`: `flush ruleset`, `#` comments): tables, their sets and maps,
//! chains with `type ... hook ... priority ...; policy ...;`, and rules, one per line
//! (or `;`), whose statements [`super::stmt`] reads.
//!
//! Invariant: every rule line of a chain becomes one rule of the model with its span;
//! structure that is not nft syntax (an unclosed block, a chain outside a table) is a
//! syntax error at its line and column. Objects the import has no use for (flowtables,
//! counters, quotas, ct helpers ...) are skipped whole and noted.

use super::{
    expr::{self, Rv},
    lex::{self, Kind, Tok},
    stmt,
};
use sockc_compiler::diag::Code;

use crate::{
    diag::{quote, Diagnostic, LineIndex},
    model::{
        BaseChain, Chain, ChainType, Family, NamedSet, NfHook, Policy, Rule, Ruleset, SetContent,
        Table, Verdict,
    },
};

/// Reads nft text.
pub fn read(text: &str) -> Result<Ruleset, Vec<Diagnostic>> {
    let idx = LineIndex::new(text);
    let toks = lex::tokens(text).map_err(|at| {
        vec![Diagnostic::new(
            Code::Syntax,
            "a string that is not closed",
            idx.span(at, at + 1),
        )]
    })?;
    let mut r = Reader {
        text,
        idx,
        t: toks,
        i: 0,
        rs: Ruleset::default(),
        maps: Vec::new(),
    };
    r.file().map_err(|(at, end, message)| {
        vec![Diagnostic::new(Code::Syntax, message, r.idx.span(at, end))]
    })?;
    Ok(r.rs)
}

type Err = (usize, usize, String);

struct Reader<'a> {
    text: &'a str,
    idx: LineIndex<'a>,
    t: Vec<Tok>,
    i: usize,
    rs: Ruleset,
    /// Verdict maps' entries, per table.
    maps: Vec<stmt::MapDef>,
}

impl Reader<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, Err> {
        let (s, e) = self
            .t
            .get(self.i)
            .map_or((self.text.len(), self.text.len()), |t| (t.start, t.end));
        Err((s, e, msg.into()))
    }

    fn skip_newlines(&mut self) {
        while self
            .peek()
            .is_some_and(|t| t.kind == Kind::Newline || t.is(";"))
        {
            self.i += 1;
        }
    }

    fn word(&mut self) -> Result<String, Err> {
        match self.peek() {
            Some(t) if matches!(t.kind, Kind::Word | Kind::Str) => {
                let s = t.text.clone();
                self.i += 1;
                Ok(s)
            }
            Some(t) => {
                let found = quote(&t.text);
                self.err(format!("expected a name, found {found}"))
            }
            None => self.err("the input ends early"),
        }
    }

    fn expect(&mut self, s: &str) -> Result<(), Err> {
        if self.peek().is_some_and(|t| t.is(s)) {
            self.i += 1;
            Ok(())
        } else {
            let found = self
                .peek()
                .map_or("the end".to_string(), |t| quote(&t.text));
            self.err(format!("expected `{s}`, found {found}"))
        }
    }

    fn file(&mut self) -> Result<(), Err> {
        loop {
            self.skip_newlines();
            let Some(t) = self.peek().cloned() else {
                return Ok(());
            };
            match t.text.as_str() {
                "flush" => {
                    // `flush ruleset` (the script starts from nothing, as the import does)
                    while self.peek().is_some_and(|t| t.kind == Kind::Word) {
                        self.i += 1;
                    }
                }
                "table" => {
                    self.i += 1;
                    self.table(&t)?;
                }
                _ => {
                    return self.err(format!(
                        "{} is not read by the import: give it `nft list ruleset` output or a script of table blocks",
                        quote(&t.text)
                    ))
                }
            }
        }
    }

    fn table(&mut self, head: &Tok) -> Result<(), Err> {
        let first = self.word()?;
        let (family, name) = match Family::parse(&first) {
            Some(f) if !self.peek().is_some_and(|t| t.is("{")) => (f, self.word()?),
            _ => (Family::Ip, first),
        };
        self.expect("{")?;
        let open = self.t[self.i - 1].clone();
        let span = self.idx.span(head.start, open.end);
        let ti = self.rs.tables.len();
        self.rs.tables.push(Table {
            family,
            name,
            chains: Vec::new(),
            span,
        });
        loop {
            self.skip_newlines();
            let Some(t) = self.peek().cloned() else {
                return Err((open.start, open.end, "the table's `}` is missing".into()));
            };
            if t.is("}") {
                self.i += 1;
                return Ok(());
            }
            self.i += 1;
            match t.text.as_str() {
                "chain" => self.chain(ti, &t)?,
                "set" | "map" => self.set(ti, &t, t.text == "map")?,
                "flags" | "comment" => self.rest_of_line(),
                _ => {
                    // flowtable, counter, quota, limit, ct helper/timeout/expectation, secmark, synproxy
                    self.rs.notes.push(format!(
                        "line {}: `{}` objects are not imported",
                        self.idx.span(t.start, t.end).line,
                        t.text
                    ));
                    self.skip_block()?;
                }
            }
        }
    }

    fn rest_of_line(&mut self) {
        while self
            .peek()
            .is_some_and(|t| t.kind != Kind::Newline && !t.is(";") && !t.is("}"))
        {
            self.i += 1;
        }
    }

    /// Skips `NAME... { ... }` with nested braces.
    fn skip_block(&mut self) -> Result<(), Err> {
        while self.peek().is_some_and(|t| !t.is("{")) {
            self.i += 1;
        }
        self.expect("{")?;
        let mut depth = 1;
        while depth > 0 {
            let Some(t) = self.peek() else {
                return self.err("a `}` is missing");
            };
            if t.is("{") {
                depth += 1;
            } else if t.is("}") {
                depth -= 1;
            }
            self.i += 1;
        }
        Ok(())
    }

    fn chain(&mut self, ti: usize, head: &Tok) -> Result<(), Err> {
        let name = self.word()?;
        self.expect("{")?;
        let open = self.t[self.i - 1].clone();
        let span = self.idx.span(head.start, open.end);
        let ci = self.rs.tables[ti].chains.len();
        self.rs.tables[ti].chains.push(Chain {
            name,
            base: None,
            rules: Vec::new(),
            span,
        });
        loop {
            self.skip_newlines();
            let Some(t) = self.peek().cloned() else {
                return Err((open.start, open.end, "the chain's `}` is missing".into()));
            };
            match t.text.as_str() {
                "}" if t.kind == Kind::Punct => {
                    self.i += 1;
                    return Ok(());
                }
                "type" if t.kind == Kind::Word => self.base(ti, ci)?,
                "policy" if t.kind == Kind::Word => {
                    self.i += 1;
                    let p = self.word()?;
                    let policy = match p.as_str() {
                        "accept" => Policy::Accept,
                        "drop" => Policy::Drop,
                        _ => return self.err(format!("policy `{p}` is neither accept nor drop")),
                    };
                    match &mut self.rs.tables[ti].chains[ci].base {
                        Some(b) => b.policy = policy,
                        None => return self.err("a policy in a chain that has no hook"),
                    }
                }
                "comment" | "devices" | "device" | "flags" if t.kind == Kind::Word => {
                    self.i += 1;
                    self.rest_of_line();
                }
                _ => self.rule(ti, ci)?,
            }
        }
    }

    /// `type filter hook input [device X] priority P;`
    fn base(&mut self, ti: usize, ci: usize) -> Result<(), Err> {
        let start = self.t[self.i].start;
        self.i += 1;
        let kind = match self.word()?.as_str() {
            "filter" => ChainType::Filter,
            "nat" => ChainType::Nat,
            "route" => ChainType::Route,
            other => ChainType::Other(other.to_string()),
        };
        self.expect("hook")?;
        let at = self.i;
        let h = self.word()?;
        let Some(hook) = NfHook::parse(&h) else {
            self.i = at;
            return self.err(format!("unknown hook `{h}`"));
        };
        let mut device = None;
        if self.peek().is_some_and(|t| t.is("device")) {
            self.i += 1;
            device = Some(self.word()?);
        } else if self.peek().is_some_and(|t| t.is("devices")) {
            // netdev chains on several devices: `devices = { a, b }`
            self.i += 1;
            self.expect("=")?;
            device = Some(self.device_list()?);
        }
        self.expect("priority")?;
        let priority = self.priority(self.rs.tables[ti].family)?;
        let span = self.idx.span(start, self.t[self.i - 1].end);
        self.rs.tables[ti].chains[ci].base = Some(BaseChain {
            kind,
            hook,
            priority,
            policy: Policy::Accept,
            device,
            span,
        });
        Ok(())
    }

    /// `{ a, b }` after `devices =`, as one comma-separated text.
    fn device_list(&mut self) -> Result<String, Err> {
        self.expect("{")?;
        let mut names = Vec::new();
        loop {
            self.skip_newlines();
            if self.peek().is_some_and(|t| t.is("}")) {
                self.i += 1;
                return Ok(names.join(", "));
            }
            if self.peek().is_some_and(|t| t.is(",")) {
                self.i += 1;
                continue;
            }
            names.push(self.word()?);
        }
    }

    /// `-300`, `filter`, `filter - 1`, `dstnat + 10`: the names of the table's
    /// family (nftables' `std_prios`: the bridge family's differ from the others').
    fn priority(&mut self, family: Family) -> Result<i32, Err> {
        let w = self.word()?;
        let named = match family {
            Family::Bridge => match w.as_str() {
                "dstnat" => Some(-300),
                "filter" => Some(-200),
                "out" => Some(100),
                "srcnat" => Some(300),
                _ => None,
            },
            _ => match w.as_str() {
                "raw" => Some(-300),
                "mangle" => Some(-150),
                "dstnat" => Some(-100),
                "filter" => Some(0),
                "security" => Some(50),
                "srcnat" => Some(100),
                _ => None,
            },
        };
        let base = match named {
            Some(p) => p,
            None => {
                let n = w.as_str();
                return n.parse().map_or_else(
                    |_| self.err(format!("priority `{n}` is not a number or a known name")),
                    Ok,
                );
            }
        };
        let sign = match self.peek().map(|t| t.text.as_str()) {
            Some("+") => 1,
            Some("-") => -1,
            _ => return Ok(base),
        };
        self.i += 1;
        let n: i32 = self
            .word()?
            .parse()
            .map_or_else(|_| self.err("expected a number"), Ok)?;
        Ok(base + sign * n)
    }

    /// A rule: the tokens up to the end of its line (outside braces) or `;`.
    fn rule(&mut self, ti: usize, ci: usize) -> Result<(), Err> {
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
        if depth > 0 {
            return self.err("a `}` is missing in this rule");
        }
        let toks: Vec<Tok> = self.t[start..self.i]
            .iter()
            .filter(|t| t.kind != Kind::Newline)
            .cloned()
            .collect();
        let (s, e) = (self.t[start].start, self.t[self.i - 1].end);
        let sets: Vec<(usize, &NamedSet)> = self
            .rs
            .sets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.table == Some(ti))
            .collect();
        let maps: Vec<stmt::MapDef> = self
            .maps
            .iter()
            .filter(|m| m.table == ti)
            .cloned()
            .collect();
        let v = self.rs.tables[ti].family.ip_versions();
        let ctx = stmt::Ctx {
            text: self.text,
            table_v: (v.len() == 1).then(|| v[0]),
            sets,
            maps: &maps,
        };
        let read = stmt::read(&toks, &ctx);
        let id = self.rs.rules.len();
        self.rs.rules.push(Rule {
            span: self.idx.span(s, e),
            source: self.text[s..e].to_string(),
            table: ti,
            chain: ci,
            matches: read.matches,
            effects: read.effects,
            verdict: read.verdict.unwrap_or(Verdict::Continue),
            comment: read.comment,
        });
        self.rs.tables[ti].chains[ci].rules.push(id);
        Ok(())
    }

    /// `set NAME { type T; flags interval; elements = { ... } }` (and maps).
    fn set(&mut self, ti: usize, head: &Tok, map: bool) -> Result<(), Err> {
        let name = self.word()?;
        self.expect("{")?;
        let mut type_text = String::new();
        let mut interval = false;
        let mut unknown: Option<String> = None;
        let mut elems: Vec<(Rv, Option<Rv>)> = Vec::new();
        loop {
            self.skip_newlines();
            let Some(t) = self.peek().cloned() else {
                return self.err("the set's `}` is missing");
            };
            self.i += 1;
            match t.text.as_str() {
                "}" => break,
                "type" | "typeof" => {
                    let s = self.i;
                    self.rest_of_line();
                    let words: Vec<&str> =
                        self.t[s..self.i].iter().map(|t| t.text.as_str()).collect();
                    type_text = if t.text == "typeof" {
                        let mut parts = words.split(|w| *w == ":");
                        let key = typeof_text(parts.next().unwrap_or(&[]));
                        match parts.next() {
                            Some(v) => format!("{key} : {}", v.join(" ")),
                            None => key,
                        }
                    } else {
                        words.join(" ")
                    };
                }
                "flags" => {
                    let s = self.i;
                    self.rest_of_line();
                    let flags = &self.t[s..self.i];
                    interval = flags.iter().any(|t| t.text == "interval");
                    if let Some(f) = flags
                        .iter()
                        .find(|t| t.text == "dynamic" || t.text == "timeout")
                    {
                        unknown.get_or_insert(format!("`flags {}`", f.text));
                    }
                }
                // a default timeout, or a stateful statement every element gets
                "timeout" | "limit" | "quota" => {
                    unknown.get_or_insert(format!("`{}` on its elements", t.text));
                    self.rest_of_line();
                }
                "elements" => {
                    self.expect("=")?;
                    let (read, why) = self.elements()?;
                    elems = read;
                    if let Some(why) = why {
                        unknown.get_or_insert(why);
                    }
                }
                _ => self.rest_of_line(),
            }
        }
        let key_type = type_text.split(" : ").next().unwrap_or("").to_string();
        let content = match expr::set_keys(&key_type) {
            Some(keys) => expr::set_content(
                &keys,
                &elems.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            ),
            None => SetContent::External,
        };
        // an nft set is never an ipset to export: what cannot be read stays in netfilter
        if content == SetContent::External {
            unknown.get_or_insert(expr::unreadable_elements(&elems));
        }
        let verdicts = if map && type_text.ends_with(": verdict") {
            let entries = elems
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().unwrap_or(Rv::Text(String::new()))))
                .collect();
            self.maps.push(stmt::MapDef {
                table: ti,
                name: name.clone(),
                entries,
            });
            Some(
                elems
                    .iter()
                    .map(|(_, v)| {
                        v.as_ref().map_or(Verdict::Continue, |v| {
                            stmt::verdict_of(v).unwrap_or(Verdict::Continue)
                        })
                    })
                    .collect(),
            )
        } else {
            None
        };
        let span = self.idx.span(head.start, self.t[self.i - 1].end);
        self.rs.sets.push(NamedSet {
            table: Some(ti),
            name,
            type_text,
            content,
            verdicts,
            interval,
            unknown,
            span,
        });
        Ok(())
    }

    /// `{ e, e, k : v, ... }` after `elements =`, with why the elements are not
    /// what lookups see (per-element `timeout`, `expires`, `limit`, `quota`) or
    /// cannot be read; per-element `counter`s and `comment`s change nothing.
    #[allow(clippy::type_complexity)]
    fn elements(&mut self) -> Result<(Vec<(Rv, Option<Rv>)>, Option<String>), Err> {
        let start = self.i;
        if !self.peek().is_some_and(|t| t.is("{")) {
            return self.err("expected `{` and the elements");
        }
        let mut depth = 0usize;
        let mut deepest = 0usize;
        loop {
            let Some(t) = self.peek() else {
                return self.err("the elements' `}` is missing");
            };
            if t.is("{") {
                depth += 1;
                deepest = deepest.max(depth);
            } else if t.is("}") {
                depth -= 1;
                if depth == 0 {
                    self.i += 1;
                    break;
                }
            }
            self.i += 1;
        }
        if deepest > stmt::MAX_NESTING {
            self.i = start;
            return self.err("cannot read these set elements: they nest too deep");
        }
        let (toks, why) = without_element_statements(&self.t[start..self.i]);
        let ctx = stmt::Ctx {
            text: self.text,
            table_v: None,
            sets: Vec::new(),
            maps: &[],
        };
        match stmt::set_literal(&toks, &ctx) {
            Some(Rv::Set(e)) => Ok((e, why)),
            // one set nft reads and the import cannot: its lookups stay in netfilter
            _ => Ok((
                Vec::new(),
                Some(why.unwrap_or_else(|| "elements the import cannot read".into())),
            )),
        }
    }
}

/// The element list `toks` (braces included) without the statements nft lists after
/// an element (`counter packets 0 bytes 0`, `timeout 1h expires 29m`, `limit rate
/// 1/second`, `quota 10 mbytes`, `comment "x"`), and why the elements' membership
/// changes at run time when one of them says so.
fn without_element_statements(toks: &[Tok]) -> (Vec<Tok>, Option<String>) {
    const STATEMENTS: [&str; 6] = ["counter", "timeout", "expires", "limit", "quota", "comment"];
    let mut out = Vec::with_capacity(toks.len());
    let mut why: Option<String> = None;
    let mut depth = 0usize;
    let mut skipping = false;
    for t in toks {
        if t.is("{") {
            depth += 1;
        } else if t.is("}") {
            depth = depth.saturating_sub(1);
        }
        let ends = (t.is(",") || t.is(":") || t.is("}")) && depth <= 1;
        if skipping && !ends {
            continue;
        }
        skipping = false;
        if depth == 1 && t.kind == Kind::Word && STATEMENTS.contains(&t.text.as_str()) {
            if !matches!(t.text.as_str(), "counter" | "comment") {
                why.get_or_insert(format!("elements with `{}`", t.text));
            }
            skipping = true;
            continue;
        }
        out.push(t.clone());
    }
    (out, why)
}

/// The type a `typeof` expression stands for (`typeof ip saddr` → `ipv4_addr`).
fn typeof_text(words: &[&str]) -> String {
    words
        .split(|w| *w == ".")
        .map(|sel| match sel {
            ["ip", "saddr" | "daddr"] => "ipv4_addr",
            ["ip6", "saddr" | "daddr"] => "ipv6_addr",
            [_, "sport" | "dport"] => "inet_service",
            ["meta", "l4proto"] | ["ip", "protocol"] => "inet_proto",
            ["iifname" | "oifname"] | ["meta", "iifname" | "oifname"] => "ifname",
            ["icmp", "type"] => "icmp_type",
            ["icmpv6", "type"] => "icmpv6_type",
            ["ct", "state"] => "ct_state",
            _ => "unknown",
        })
        .collect::<Vec<_>>()
        .join(" . ")
}
