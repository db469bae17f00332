//! One nft rule's tokens → matches, effects and verdict: relational expressions
//! (`selector [op] value`, with concatenations, masks, anonymous and named sets, verdict
//! maps) and statements (verdicts, `counter`, `log`, `limit`, `reject`, `comment`,
//! NAT, `... set ...`, meters, dynamic set updates, ...).
//!
//! Invariant: the whole rule is read or the rule becomes one opaque match (with the
//! text from where reading stopped) and the verdict its last words name: a rule is
//! never shortened into something that matches more or decides differently without
//! being reported.

use super::{
    expr::{self, Op, Rv},
    lex::{Kind, Tok},
};
use crate::{
    features::Feature,
    model::{Effect, IpVersion, Match, NamedSet, RejectWith, Verdict},
};

/// What the reader knows while reading a rule.
pub struct Ctx<'a> {
    pub text: &'a str,
    /// The table's IP version, when it has one (ip, ip6).
    pub table_v: Option<IpVersion>,
    /// The table's sets: (model id, set).
    pub sets: Vec<(usize, &'a NamedSet)>,
    /// The table's verdict maps.
    pub maps: &'a [MapDef],
}

/// A named verdict map: its name and entries (key, verdict), as read.
#[derive(Clone, Debug)]
pub struct MapDef {
    pub table: usize,
    pub name: String,
    pub entries: Vec<(Rv, Rv)>,
}

/// A rule as read.
#[derive(Clone, Debug, Default)]
pub struct Read {
    pub matches: Vec<Match>,
    pub effects: Vec<Effect>,
    pub verdict: Option<Verdict>,
    pub comment: Option<String>,
}

const STATEMENTS: &[&str] = &[
    "accept",
    "drop",
    "continue",
    "return",
    "jump",
    "goto",
    "queue",
    "reject",
    "counter",
    "log",
    "limit",
    "comment",
    "dnat",
    "snat",
    "masquerade",
    "redirect",
    "tproxy",
    "notrack",
    "dup",
    "fwd",
    "synproxy",
    "quota",
    "meter",
    "add",
    "update",
    "delete",
    "flow",
    "xt",
    "last",
];

const META_KEYS: &[&str] = &[
    "iif",
    "oif",
    "iifname",
    "oifname",
    "iiftype",
    "oiftype",
    "iifgroup",
    "oifgroup",
    "mark",
    "priority",
    "skuid",
    "skgid",
    "nfproto",
    "l4proto",
    "pkttype",
    "cpu",
    "cgroup",
    "length",
    "protocol",
    "rtclassid",
    "random",
    "secmark",
    "iifkind",
    "oifkind",
    "time",
    "day",
    "hour",
    "sdif",
    "sdifname",
    "ibrname",
    "obrname",
    "ibrpvid",
    "ibrvproto",
    "broute",
    "nftrace",
];

const HEADERS: &[&str] = &[
    "ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "igmp", "ah", "esp",
    "comp", "th", "ether", "vlan", "arp", "gre", "gretap", "vxlan", "geneve", "hbh", "frag", "dst",
    "mh", "srh", "rt0", "rt2", "ipsec",
];

struct P<'a, 'b> {
    t: &'b [Tok],
    i: usize,
    ctx: &'b Ctx<'a>,
    out: Read,
    /// How many `{` and `(` the value being read is inside (bounded by
    /// [`MAX_NESTING`]: values are read by recursion).
    depth: usize,
}

/// The deepest nesting of braces and parentheses in a value (nft prints at most a
/// few levels: a set inside a map inside a rule).
pub const MAX_NESTING: usize = 32;

/// Whether a word of a statement the import cannot read may give the rule a verdict
/// (`vmap`, `jump { ... }`, NAT, `queue` ...): such a rule is terminal, its verdict
/// unknown, never "no verdict".
pub fn may_decide(word: &str) -> bool {
    matches!(
        word,
        "accept"
            | "drop"
            | "reject"
            | "return"
            | "jump"
            | "goto"
            | "vmap"
            | "queue"
            | "dnat"
            | "snat"
            | "masquerade"
            | "redirect"
            | "tproxy"
            | "synproxy"
            | "fwd"
    )
}

/// Reads a rule's tokens.
pub fn read(toks: &[Tok], ctx: &Ctx<'_>) -> Read {
    let mut p = P {
        t: toks,
        i: 0,
        ctx,
        out: Read::default(),
        depth: 0,
    };
    while p.i < p.t.len() {
        let at = p.i;
        if let Err(why) = p.statement() {
            p.give_up(at, &why);
            break;
        }
        if p.i == at {
            p.give_up(at, "nothing read");
            break;
        }
    }
    p.out
}

impl P<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }

    fn peek_is(&self, s: &str) -> bool {
        self.peek().is_some_and(|t| t.is(s))
    }

    fn word(&mut self) -> Result<String, String> {
        let t = self.t.get(self.i).ok_or("the rule ends early")?;
        if !matches!(t.kind, Kind::Word | Kind::Str) {
            return Err(format!("expected a word, found `{}`", t.text));
        }
        self.i += 1;
        Ok(t.text.clone())
    }

    /// The rest of the rule from token `at` becomes one opaque match; the verdict is
    /// the one its last words name.
    fn give_up(&mut self, at: usize, why: &str) {
        let start = self.t.get(at).map_or(0, |t| t.start);
        let end = self.t.last().map_or(start, |t| t.end);
        let text = self.ctx.text.get(start..end).unwrap_or("").to_string();
        self.out
            .matches
            .push(Match::opaque(Feature::Other, format!("{text} ({why})")));
        let words: Vec<&str> = self.t[at..].iter().map(|t| t.text.as_str()).collect();
        if self.out.verdict.is_some() {
            self.i = self.t.len();
            return;
        }
        self.out.verdict = Some(match words.as_slice() {
            [.., "accept"] => Verdict::Accept,
            [.., "drop"] => Verdict::Drop,
            [.., "reject"] => Verdict::Reject(RejectWith::Default),
            [.., "return"] => Verdict::Return,
            [.., "jump", c] => Verdict::Jump(c.to_string()),
            [.., "goto", c] => Verdict::Goto(c.to_string()),
            // a verdict the import cannot place (a verdict map, an anonymous chain,
            // NAT ...) is never taken for no verdict
            _ if words.iter().any(|w| may_decide(w)) => Verdict::Other {
                feature: Feature::Other,
                text: text.clone(),
            },
            _ => Verdict::Continue,
        });
        self.i = self.t.len();
    }

    fn set_verdict(&mut self, v: Verdict) -> Result<(), String> {
        if self.out.verdict.is_some() {
            return Err("a second verdict".into());
        }
        self.out.verdict = Some(v);
        Ok(())
    }

    fn statement(&mut self) -> Result<(), String> {
        let first = self.peek().ok_or("the rule ends early")?.clone();
        if first.kind == Kind::Word && STATEMENTS.contains(&first.text.as_str()) {
            self.i += 1;
            return self.keyword(&first.text);
        }
        if first.is("ct") && self.t.get(self.i + 1).is_some_and(|t| t.is("count")) {
            let start = self.i;
            self.i += 2;
            self.skip_args();
            let text = self.text_of(start);
            self.out
                .matches
                .push(Match::opaque(Feature::Conntrack, text));
            return Ok(());
        }
        self.relation()
    }

    fn text_of(&self, start: usize) -> String {
        let s = self.t[start].start;
        let e = self.t[self.i.max(start + 1) - 1].end;
        self.ctx.text[s..e].to_string()
    }

    /// Skips a statement's arguments: up to the next statement or selector.
    fn skip_args(&mut self) {
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            if t.is("{") || t.is("(") {
                depth += 1;
            } else if t.is("}") || t.is(")") {
                depth = depth.saturating_sub(1);
            } else if depth == 0
                && t.kind == Kind::Word
                && !matches!(
                    t.text.as_str(),
                    "random" | "fully-random" | "persistent" | "bypass" | "fanout"
                )
                && (STATEMENTS.contains(&t.text.as_str()) || selector_len(self.t, self.i).is_some())
            {
                // `to ip saddr map {...}`: a selector right after `to`/`map` belongs here
                let prev = self
                    .i
                    .checked_sub(1)
                    .and_then(|j| self.t.get(j))
                    .map(|t| t.text.as_str());
                if !matches!(
                    prev,
                    Some("to" | "map" | "set" | "." | "dnat" | "snat" | "tproxy")
                ) {
                    break;
                }
            }
            self.i += 1;
        }
    }

    fn keyword(&mut self, kw: &str) -> Result<(), String> {
        let start = self.i - 1;
        match kw {
            "accept" => self.set_verdict(Verdict::Accept)?,
            "drop" => self.set_verdict(Verdict::Drop)?,
            "continue" => self.set_verdict(Verdict::Continue)?,
            "return" => self.set_verdict(Verdict::Return)?,
            "jump" => {
                let c = self.word()?;
                self.set_verdict(Verdict::Jump(c))?
            }
            "goto" => {
                let c = self.word()?;
                self.set_verdict(Verdict::Goto(c))?
            }
            "reject" => {
                let with = self.reject_with()?;
                self.out.matches.extend(with.nft_dependency());
                self.set_verdict(Verdict::Reject(with))?
            }
            "counter" => {
                self.skip_args();
                self.out.effects.push(Effect::Counter);
            }
            "comment" => self.out.comment = Some(self.word()?),
            "log" => self.log()?,
            "limit" => {
                let m = self.limit()?;
                self.out.matches.push(m);
            }
            "notrack" => self.out.effects.push(Effect::Other {
                feature: Feature::Conntrack,
                text: "notrack".into(),
            }),
            "dnat" | "snat" | "masquerade" | "redirect" => {
                self.skip_args();
                let text = self.text_of(start);
                self.set_verdict(Verdict::Other {
                    feature: Feature::Nat,
                    text,
                })?
            }
            "queue" => {
                self.skip_args();
                let text = self.text_of(start);
                self.set_verdict(Verdict::Other {
                    feature: Feature::Queue,
                    text,
                })?
            }
            // tproxy assigns a socket and goes on, or ends the rule when there is none
            "tproxy" => {
                self.skip_args();
                let text = self.text_of(start);
                self.out
                    .matches
                    .push(Match::opaque(Feature::Other, text.clone()));
                self.out.effects.push(Effect::Other {
                    feature: Feature::Other,
                    text,
                });
            }
            "synproxy" | "fwd" => {
                self.skip_args();
                let text = self.text_of(start);
                self.set_verdict(Verdict::Other {
                    feature: Feature::Other,
                    text,
                })?
            }
            "dup" | "flow" | "xt" | "last" => {
                self.skip_args();
                let (feature, text) = (Feature::Other, self.text_of(start));
                // `xt match NAME` (iptables-nft's compat match) decides, like any match
                match text.starts_with("xt match") {
                    true => self.out.matches.push(Match::opaque(feature, text)),
                    false => self.out.effects.push(Effect::Other { feature, text }),
                }
            }
            // meters and dynamic set updates decide by their state: matches
            "meter" | "add" | "update" | "delete" | "quota" => {
                self.skip_args();
                let f = if kw == "quota" {
                    Feature::Other
                } else {
                    Feature::Hashlimit
                };
                let text = self.text_of(start);
                self.out.matches.push(Match::opaque(f, text));
            }
            _ => return Err(format!("statement `{kw}`")),
        }
        Ok(())
    }

    fn reject_with(&mut self) -> Result<RejectWith, String> {
        if !self.peek_is("with") {
            return Ok(RejectWith::Default);
        }
        self.i += 1;
        let kind = self.word()?;
        if kind == "tcp" {
            self.word()?; // reset
            return Ok(RejectWith::TcpReset);
        }
        if self.peek_is("type") {
            self.i += 1;
        }
        let what = self.word()?;
        Ok(match (kind.as_str(), what.as_str()) {
            ("icmp" | "icmpx" | "icmpv6", "port-unreachable") => RejectWith::Default,
            _ => RejectWith::Icmp(format!("{kind} {what}")),
        })
    }

    fn log(&mut self) -> Result<(), String> {
        let mut prefix = None;
        while let Some(t) = self.peek() {
            match t.text.as_str() {
                "prefix" => {
                    self.i += 1;
                    prefix = Some(self.word()?);
                }
                "level" | "group" | "snaplen" | "queue-threshold" => {
                    self.i += 2;
                }
                "flags" => {
                    self.i += 1;
                    while self.peek().is_some_and(|t| {
                        t.is(",")
                            || matches!(
                                t.text.as_str(),
                                "tcp" | "ip" | "sequence" | "options" | "skuid" | "ether" | "all"
                            )
                    }) {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
        self.out.effects.push(Effect::Log { prefix });
        Ok(())
    }

    /// `limit rate [over] N/unit [burst N packets]` and `limit rate [over] N
    /// UNIT/unit [burst M UNIT]`, normalized as the language writes them (nft's
    /// default burst is 5 packets, and 0 bytes for a byte rate: one unit's worth), or
    /// named limits (kept as text).
    fn limit(&mut self) -> Result<Match, String> {
        let start = self.i - 1;
        if !self.peek_is("rate") {
            self.skip_args();
            return Ok(Match::opaque(Feature::Limit, self.text_of(start)));
        }
        self.i += 1;
        let over = self.peek_is("over");
        if over {
            self.i += 1;
        }
        // `5/second`, and the spaced forms nft reads too (`5 / second`, `1 kbytes /
        // second`), written as nft lists them
        let mut rate = self.word()?;
        if self.peek_is("/") {
            self.i += 1;
            rate = format!("{rate}/{}", self.word()?);
        }
        let byte_rate = if rate.contains('/') {
            None
        } else {
            let mut unit = self.word()?; // UNIT/second
            if !unit.contains('/') && self.peek_is("/") {
                self.i += 1;
                unit = format!("{unit}/{}", self.word()?);
            }
            Some(unit)
        };
        let mut burst = None;
        if self.peek_is("burst") {
            self.i += 1;
            let n = self.word()?;
            burst = Some((n, self.word()?));
        }
        let head = if over { "limit over" } else { "limit" };
        let key = match (byte_rate, burst) {
            (None, None) => crate::names::limit_key(&rate, "5"),
            (None, Some((b, u))) if u == "packets" => crate::names::limit_key(&rate, &b),
            (Some(per), None) => format!("limit {rate} {}", normal_per(&per)),
            (Some(per), Some((b, u))) => format!("limit {rate} {} burst {b} {u}", normal_per(&per)),
            _ => return Ok(Match::opaque(Feature::Limit, self.text_of(start))),
        };
        Ok(Match::opaque(
            Feature::Limit,
            key.replacen("limit", head, 1),
        ))
    }

    /// `selector [. selector]* [& mask] [op] value`, `selector vmap ...`,
    /// `selector set value`, `selector exists`.
    fn relation(&mut self) -> Result<(), String> {
        let start = self.i;
        let mut sels: Vec<Vec<String>> = Vec::new();
        loop {
            let n = selector_len(self.t, self.i)
                .ok_or_else(|| format!("unknown expression `{}`", self.t[self.i].text))?;
            sels.push(
                self.t[self.i..self.i + n]
                    .iter()
                    .filter(|t| !t.is("."))
                    .map(|t| t.text.clone())
                    .collect(),
            );
            self.i += n;
            if self.peek_is(".")
                && self
                    .t
                    .get(self.i + 1)
                    .is_some_and(|_| selector_len(self.t, self.i + 1).is_some())
            {
                self.i += 1;
                continue;
            }
            break;
        }
        if self.peek_is("set") {
            self.i += 1;
            self.skip_value();
            let feature = match sels[0].first().map(String::as_str) {
                Some("ct") if sels[0].iter().any(|w| w == "mark") => Feature::Mark,
                Some("ct") => Feature::Conntrack,
                Some("meta" | "mark") if sels[0].iter().any(|w| w == "mark") => Feature::Mark,
                _ => Feature::Mangle,
            };
            self.out.effects.push(Effect::Other {
                feature,
                text: self.text_of(start),
            });
            return Ok(());
        }
        let mut mask = None;
        if let Some(op) = self
            .peek()
            .map(|t| t.text.clone())
            .filter(|t| matches!(t.as_str(), "&" | "|" | "^" | ">>" | "<<"))
        {
            self.i += 1;
            let operand = self.primary()?;
            mask = Some((op, operand));
        }
        if self.peek_is("vmap") {
            self.i += 1;
            return self.vmap(&sels, start);
        }
        if self.peek_is("exists") || self.peek_is("missing") {
            self.i += 1;
            self.opaque(&sels, start);
            return Ok(());
        }
        let op = match self.peek().and_then(|t| Op::parse(&t.text)) {
            Some(op) => {
                self.i += 1;
                op
            }
            None => Op::Implicit,
        };
        let rhs = self.rhs()?;
        let rhs = match mask {
            None => rhs,
            Some((o, m)) if o == "&" => Rv::Masked {
                value: Box::new(rhs),
                mask: Box::new(m),
            },
            Some(_) => {
                self.opaque(&sels, start);
                return Ok(());
            }
        };
        self.add_relation(&sels, op, &rhs, start);
        Ok(())
    }

    fn add_relation(&mut self, sels: &[Vec<String>], op: Op, rhs: &Rv, start: usize) {
        if let Some(level) = expr::cgroupv2_level(sels) {
            let m = expr::cgroupv2(level, op, rhs, &self.text_of(start));
            return self.out.matches.push(m);
        }
        let mut keys = Vec::new();
        let mut deps = Vec::new();
        for s in sels {
            let words: Vec<&str> = s.iter().map(String::as_str).collect();
            match expr::selector(&words, self.ctx.table_v) {
                Some((k, d)) => {
                    keys.push(k);
                    deps.extend(d);
                }
                None => return self.opaque(sels, start),
            }
        }
        // `& mask` is read for flags only
        if matches!(rhs, Rv::Masked { .. }) && !expr::maskable(&keys) {
            return self.opaque(sels, start);
        }
        match expr::relation(&keys, op, rhs, &self.ctx.sets) {
            Ok(m) => {
                self.out.matches.extend(deps);
                self.out.matches.push(m);
            }
            Err(_) => self.opaque(sels, start),
        }
    }

    fn opaque(&mut self, sels: &[Vec<String>], start: usize) {
        let words: Vec<&str> = sels[0].iter().map(String::as_str).collect();
        let f = expr::selector_feature(&words);
        self.out.matches.push(Match::opaque(f, self.text_of(start)));
    }

    fn vmap(&mut self, sels: &[Vec<String>], start: usize) -> Result<(), String> {
        let entries: Vec<(Rv, Rv)> = if self.peek_is("{") {
            let Rv::Set(elems) = self.primary()? else {
                return Err("a verdict map".into());
            };
            elems
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or(Rv::Text(String::new()))))
                .collect()
        } else {
            let name = self.word()?;
            let name = name.strip_prefix('@').ok_or("a verdict map")?.to_string();
            self.ctx
                .maps
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.entries.clone())
                .ok_or(format!("map @{name} does not exist"))?
        };
        let mut keys = Vec::new();
        for s in sels {
            let words: Vec<&str> = s.iter().map(String::as_str).collect();
            match expr::selector(&words, self.ctx.table_v) {
                Some((k, d)) => {
                    keys.push(k);
                    self.out.matches.extend(d);
                }
                None => {
                    self.opaque(sels, start);
                    return self.set_verdict(Verdict::Other {
                        feature: Feature::Other,
                        text: self.text_of(start),
                    });
                }
            }
        }
        let mut out = Vec::new();
        for (k, v) in entries {
            let Ok(values) = expr::element(&keys, &k) else {
                self.opaque(sels, start);
                return self.set_verdict(Verdict::Other {
                    feature: Feature::Other,
                    text: self.text_of(start),
                });
            };
            out.push((values, verdict_of(&v)?));
        }
        self.set_verdict(Verdict::Map { keys, entries: out })
    }

    /// `value [, value]* [/ value [, value]*]`, or a set, or `@set`.
    fn rhs(&mut self) -> Result<Rv, String> {
        let value = self.list()?;
        if self.peek_is("/") {
            self.i += 1;
            let mask = self.list()?;
            return Ok(Rv::Masked {
                value: Box::new(value),
                mask: Box::new(mask),
            });
        }
        Ok(value)
    }

    fn list(&mut self) -> Result<Rv, String> {
        let first = self.concat()?;
        if !self.peek_is(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek_is(",") {
            self.i += 1;
            items.push(self.concat()?);
        }
        Ok(Rv::List(items))
    }

    fn concat(&mut self) -> Result<Rv, String> {
        let first = self.ranged()?;
        if !self.peek_is(".") {
            return Ok(first);
        }
        let mut parts = vec![first];
        while self.peek_is(".") {
            self.i += 1;
            parts.push(self.ranged()?);
        }
        Ok(Rv::Concat(parts))
    }

    /// A value, or a range written with a spaced `-` (`"12:00"-"23:59:59"`).
    fn ranged(&mut self) -> Result<Rv, String> {
        let first = self.primary()?;
        if self
            .peek()
            .is_some_and(|t| t.kind == Kind::Word && t.text == "-")
        {
            self.i += 1;
            let last = self.primary()?;
            return Ok(Rv::Range(Box::new(first), Box::new(last)));
        }
        Ok(first)
    }

    fn primary(&mut self) -> Result<Rv, String> {
        let t = self.peek().ok_or("a value is missing")?.clone();
        if t.is("{") || t.is("(") {
            if self.depth >= MAX_NESTING {
                return Err(format!("values nested more than {MAX_NESTING} levels deep"));
            }
            self.depth += 1;
            self.i += 1;
            let v = if t.is("{") {
                self.set_elements()
            } else {
                self.list_with_bars()
            };
            self.depth -= 1;
            let v = v?;
            if t.is("(") {
                if !self.peek_is(")") {
                    return Err("`)` is missing".into());
                }
                self.i += 1;
            }
            return Ok(v);
        }
        if !matches!(t.kind, Kind::Word | Kind::Str) {
            return Err(format!("expected a value, found `{}`", t.text));
        }
        self.i += 1;
        if let Some(name) = t.text.strip_prefix('@').filter(|_| t.kind == Kind::Word) {
            return Ok(Rv::SetRef(name.to_string()));
        }
        Ok(text_rv(&t.text, t.kind == Kind::Str))
    }

    /// `(fin|syn|rst)`: a flag list written with bars.
    fn list_with_bars(&mut self) -> Result<Rv, String> {
        let mut items = vec![self.concat()?];
        while self.peek_is("|") {
            self.i += 1;
            items.push(self.concat()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Rv::List(items)
        })
    }

    /// The elements of `{ ... }` (after the brace), map entries with their value.
    fn set_elements(&mut self) -> Result<Rv, String> {
        let mut elems = Vec::new();
        loop {
            while self
                .peek()
                .is_some_and(|t| t.kind == Kind::Newline || t.is(","))
            {
                self.i += 1;
            }
            if self.peek_is("}") {
                self.i += 1;
                return Ok(Rv::Set(elems));
            }
            let key = self.concat()?;
            // element options nft prints: timeout, expires, comment, counter
            while self.peek().is_some_and(|t| {
                matches!(
                    t.text.as_str(),
                    "timeout" | "expires" | "comment" | "counter" | "packets" | "bytes"
                )
            }) {
                let w = self.word()?;
                if w != "counter" {
                    self.i += 1;
                }
            }
            let value = if self.peek_is(":") {
                self.i += 1;
                let w = self.word()?;
                Some(match w.as_str() {
                    "jump" | "goto" => Rv::Text(format!("{w} {}", self.word()?)),
                    _ => text_rv(&w, false),
                })
            } else {
                None
            };
            elems.push((key, value));
        }
    }

    /// Skips the value of `... set VALUE` (selectors, values, operators, maps).
    fn skip_value(&mut self) {
        self.skip_operand();
        while self
            .peek()
            .is_some_and(|t| matches!(t.text.as_str(), "&" | "|" | "^" | ">>" | "<<" | "." | "map"))
        {
            self.i += 1;
            self.skip_operand();
        }
    }

    fn skip_operand(&mut self) {
        match selector_len(self.t, self.i) {
            Some(n) => self.i += n,
            None => {
                let _ = self.primary();
            }
        }
    }
}

/// A word as a value: a range `a-b` of numbers or addresses splits; names stay.
fn text_rv(text: &str, quoted: bool) -> Rv {
    if !quoted {
        if let Some((a, b)) = text.split_once('-') {
            let numeric =
                |s: &str| crate::values::number(s).is_some() || crate::values::prefix(s).is_some();
            if numeric(a) && numeric(b) && !a.is_empty() {
                return Rv::Range(Box::new(Rv::Text(a.into())), Box::new(Rv::Text(b.into())));
            }
        }
    }
    Rv::Text(text.to_string())
}

/// `{ ... }` on its own (set and map elements after `elements =`).
pub fn set_literal(toks: &[Tok], ctx: &Ctx<'_>) -> Option<Rv> {
    let mut p = P {
        t: toks,
        i: 0,
        ctx,
        out: Read::default(),
        depth: 0,
    };
    let v = p.primary().ok()?;
    (p.i == toks.len()).then_some(v)
}

/// A verdict written as a map value.
pub fn verdict_of(v: &Rv) -> Result<Verdict, String> {
    let Rv::Text(t) = v else {
        return Err("a verdict".into());
    };
    Ok(match t.split_once(' ') {
        Some(("jump", c)) => Verdict::Jump(c.to_string()),
        Some(("goto", c)) => Verdict::Goto(c.to_string()),
        _ => match t.as_str() {
            "accept" => Verdict::Accept,
            "drop" => Verdict::Drop,
            "continue" => Verdict::Continue,
            "return" => Verdict::Return,
            _ => return Err(format!("`{t}` is not a verdict")),
        },
    })
}

/// How many tokens (words and `.` between fib's flags) the selector at `i` takes.
pub fn selector_len(t: &[Tok], i: usize) -> Option<usize> {
    let n = selector_words(t, i)?;
    (i + n <= t.len()).then_some(n)
}

fn selector_words(t: &[Tok], i: usize) -> Option<usize> {
    let w = |k: usize| {
        t.get(i + k)
            .filter(|x| x.kind == Kind::Word)
            .map(|x| x.text.as_str())
    };
    let first = w(0)?;
    Some(match first {
        "meta" => 2,
        "ct" => match w(1)? {
            "original" | "reply" => {
                if matches!(w(2)?, "ip" | "ip6") {
                    4
                } else {
                    3
                }
            }
            _ => 2,
        },
        "rt" if matches!(w(1), Some("ip" | "ip6")) => 3,
        "rt" => 2,
        "fib" => return fib_len(t, i),
        "socket" => {
            if w(1) == Some("cgroupv2") {
                4
            } else {
                2
            }
        }
        "osf" => {
            if w(1) == Some("ttl") {
                4
            } else {
                2
            }
        }
        "numgen" => {
            if w(4) == Some("offset") {
                6
            } else {
                4
            }
        }
        "tcp" | "ip" if w(1) == Some("option") => {
            let field = w(3).is_some_and(|f| {
                matches!(
                    f,
                    "size"
                        | "kind"
                        | "length"
                        | "left"
                        | "right"
                        | "count"
                        | "tsval"
                        | "tsecr"
                        | "value"
                        | "type"
                        | "addr"
                        | "ptr"
                )
            });
            3 + usize::from(field)
        }
        "sctp" if w(1) == Some("chunk") => {
            let field = w(3).is_some_and(|f| {
                matches!(
                    f,
                    "type"
                        | "flags"
                        | "length"
                        | "tsn"
                        | "stream"
                        | "ssn"
                        | "ppid"
                        | "tag"
                        | "a-rwnd"
                )
            });
            3 + usize::from(field)
        }
        h if HEADERS.contains(&h) => {
            w(1)?;
            2
        }
        k if META_KEYS.contains(&k) => 1,
        raw if raw.starts_with('@') && raw.contains(',') => 1,
        _ => return None,
    })
}

/// `fib saddr . iif oif`: the words up to the result (`type`, `oif`, `oifname`).
fn fib_len(t: &[Tok], i: usize) -> Option<usize> {
    let mut k = 1;
    while let Some(x) = t.get(i + k) {
        k += 1;
        if matches!(x.text.as_str(), "type" | "oif" | "oifname") {
            return Some(k);
        }
        if k > 8 {
            return None;
        }
    }
    None
}

/// `mbytes/second` with the time unit spelled out as `names::limit_key` does.
fn normal_per(per: &str) -> String {
    let (bytes, unit) = per.split_once('/').unwrap_or((per, "second"));
    let key = crate::names::limit_key(&format!("1/{unit}"), "0");
    let unit = key
        .strip_prefix("limit 1/")
        .and_then(|k| k.split(' ').next())
        .unwrap_or(unit);
    format!("{bytes}/{unit}")
}
