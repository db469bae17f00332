//! The `nft -j list ruleset` reader (libnftables-json(5), schema version 1).
//!
//! Own serde structs, not the `nftables` crate's schema (0.6.3): that schema cannot
//! express what nft 1.0.6 prints — its set types lack `verdict`, `ct_state`,
//! `icmpv6_type` ..., so Docker's verdict maps fail the whole document — and its
//! untagged enums refuse a document for one statement they do not know, where the
//! import must keep that rule and report it. Here the top-level objects are typed, and
//! each rule's expressions are read value by value into the same pieces the text
//! reader builds ([`super::expr`]), so one rule the import cannot read is one opaque
//! rule, never a failed import.
//!
//! Invariant: a JSON syntax error is reported at its line and column; an object that
//! does not fit the schema at the line and column where it starts.

use serde::Deserialize;
use serde_json::{value::RawValue, Value};
use sockc_compiler::diag::Code;

use super::{
    expr::{self, Op, Rv},
    stmt::{self, verdict_of, MapDef, Read},
};
use crate::{
    diag::{Diagnostic, LineIndex},
    features::Feature,
    model::{
        BaseChain, Chain, ChainType, Effect, Family, IpVersion, Match, NamedSet, NfHook, Policy,
        RejectWith, Rule, Ruleset, SetContent, Table, Verdict,
    },
};

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    nftables: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct TableJ {
    family: String,
    name: String,
}

#[derive(Deserialize)]
struct ChainJ {
    family: String,
    table: String,
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    hook: Option<String>,
    prio: Option<i64>,
    policy: Option<String>,
    dev: Option<Value>,
}

#[derive(Deserialize)]
struct SetJ {
    family: String,
    table: String,
    name: String,
    #[serde(rename = "type")]
    ty: Value,
    map: Option<Value>,
    flags: Option<Value>,
    elem: Option<Vec<Value>>,
    /// Statements every element gets (`limit`, `quota`, `counter`).
    stmt: Option<Vec<Value>>,
    /// The default timeout of elements added at run time.
    timeout: Option<Value>,
}

#[derive(Deserialize)]
struct RuleJ {
    family: String,
    table: String,
    chain: String,
    expr: Vec<Value>,
    comment: Option<String>,
}

/// Reads nft JSON.
pub fn read(text: &str) -> Result<Ruleset, Vec<Diagnostic>> {
    read_indexed(&LineIndex::new(text))
}

/// Reads the nft JSON `idx` indexes (its positions through `idx`).
pub fn read_indexed(idx: &LineIndex<'_>) -> Result<Ruleset, Vec<Diagnostic>> {
    let text = idx.text();
    // serde_json counts columns in bytes, from 1
    let at_line_col = |line: usize, col: usize, msg: String| {
        let (start, end) = idx.line_range(line.max(1));
        let off = (start + col.saturating_sub(1)).min(end);
        vec![Diagnostic::new(Code::Syntax, msg, idx.span(off, off + 1))]
    };
    let top: Top = serde_json::from_str(text)
        .map_err(|e| at_line_col(e.line(), e.column(), format!("not nft JSON: {e}")))?;
    let mut r = JsonReader {
        text,
        idx,
        rs: Ruleset::default(),
        maps: Vec::new(),
    };
    // objects first, rules second: a rule may name a set listed after it
    let mut rules = Vec::new();
    for raw in &top.nftables {
        let off = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let obj: serde_json::Map<String, Value> = serde_json::from_str(raw.get())
            .map_err(|e| r.error(off, format!("not an nft JSON object: {e}")))?;
        let Some((kind, body)) = obj.into_iter().next() else {
            continue;
        };
        let started = !r.rs.tables.is_empty() || !rules.is_empty();
        let Some((kind, body)) = command(kind, body, started).map_err(|m| r.error(off, m))? else {
            continue;
        };
        match kind.as_str() {
            "rule" => rules.push((off, raw.get().len(), body)),
            _ => r.object(&kind, body, off)?,
        }
    }
    for (off, len, body) in rules {
        r.rule(body, off, len)?;
    }
    Ok(r.rs)
}

/// The nft JSON commands `nft -j -f` loads: `add`/`create` of a table, chain, set,
/// map or rule (appended: the listing's own object) read as that object; a `flush
/// ruleset` before anything else is the empty start the import assumes (`None`);
/// every other command (insert, replace, delete, an element added, a rule placed by
/// handle or index) is refused, never dropped. A listing's objects pass unchanged.
fn command(kind: String, body: Value, started: bool) -> Result<Option<(String, Value)>, String> {
    const COMMANDS: [&str; 9] = [
        "add", "create", "insert", "replace", "delete", "destroy", "flush", "reset", "rename",
    ];
    if !COMMANDS.contains(&kind.as_str()) {
        return Ok(Some((kind, body)));
    }
    let inner = match &body {
        Value::Object(o) if o.len() == 1 => o.iter().next().map(|(k, v)| (k.clone(), v.clone())),
        _ => None,
    };
    let refuse = |what: &str| {
        Err(format!(
            "the nft JSON command `{kind}` {what} is not read (the import reads a ruleset \
             as `nft -j list ruleset` prints it, and `add`/`create` of tables, chains, \
             sets, maps and rules): load the file with `nft -j -f` and import its listing"
        ))
    };
    match (kind.as_str(), inner) {
        ("flush", Some((what, _))) if what == "ruleset" && !started => Ok(None),
        ("add" | "create", Some((what, inner))) => {
            let placed = ["handle", "index", "position"]
                .iter()
                .any(|k| inner.get(k).is_some());
            let objects = ["table", "chain", "set", "map", "rule"];
            if placed || !objects.contains(&what.as_str()) {
                refuse(&format!(
                    "of a {what}{}",
                    if placed { " at a position" } else { "" }
                ))
            } else {
                Ok(Some((what, inner)))
            }
        }
        (_, Some((what, _))) => refuse(&format!("of a {what}")),
        (_, None) => refuse("with this body"),
    }
}

struct JsonReader<'a> {
    text: &'a str,
    idx: &'a LineIndex<'a>,
    rs: Ruleset,
    /// Verdict maps' entries: (table, name, entries).
    maps: Vec<MapDef>,
}

impl JsonReader<'_> {
    fn error(&self, off: usize, msg: String) -> Vec<Diagnostic> {
        vec![Diagnostic::new(
            Code::Syntax,
            msg,
            self.idx.span(off, off + 1),
        )]
    }

    fn typed<T: for<'de> Deserialize<'de>>(
        &self,
        body: Value,
        what: &str,
        off: usize,
    ) -> Result<T, Vec<Diagnostic>> {
        serde_json::from_value(body).map_err(|e| {
            self.error(
                off,
                format!("a {what} object that does not fit the schema: {e}"),
            )
        })
    }

    fn table_index(&self, family: &str, name: &str, off: usize) -> Result<usize, Vec<Diagnostic>> {
        let fam = Family::parse(family)
            .ok_or_else(|| self.error(off, format!("unknown family `{family}`")))?;
        self.rs
            .tables
            .iter()
            .position(|t| t.family == fam && t.name == name)
            .ok_or_else(|| {
                self.error(
                    off,
                    format!("table {family} {name} is not listed before this object"),
                )
            })
    }

    fn object(&mut self, kind: &str, body: Value, off: usize) -> Result<(), Vec<Diagnostic>> {
        let span = self.idx.span(off, off + 1);
        match kind {
            "metainfo" => {}
            "table" => {
                let t: TableJ = self.typed(body, "table", off)?;
                let family = Family::parse(&t.family)
                    .ok_or_else(|| self.error(off, format!("unknown family `{}`", t.family)))?;
                if self.table_index(&t.family, &t.name, off).is_ok() {
                    return Err(self.error(off, format!("table {} {} twice", t.family, t.name)));
                }
                self.rs.tables.push(Table {
                    family,
                    name: t.name,
                    chains: Vec::new(),
                    span,
                });
            }
            "chain" => {
                let c: ChainJ = self.typed(body, "chain", off)?;
                let ti = self.table_index(&c.family, &c.table, off)?;
                if self.rs.tables[ti].chain(&c.name).is_some() {
                    let twice = format!("chain {} {} {} twice", c.family, c.table, c.name);
                    return Err(self.error(off, twice));
                }
                let base = match (&c.kind, &c.hook) {
                    (Some(k), Some(h)) => Some(BaseChain {
                        kind: match k.as_str() {
                            "filter" => ChainType::Filter,
                            "nat" => ChainType::Nat,
                            "route" => ChainType::Route,
                            other => ChainType::Other(other.to_string()),
                        },
                        hook: NfHook::parse(h)
                            .ok_or_else(|| self.error(off, format!("unknown hook `{h}`")))?,
                        priority: c.prio.unwrap_or(0).clamp(i32::MIN as i64, i32::MAX as i64)
                            as i32,
                        policy: if c.policy.as_deref() == Some("drop") {
                            Policy::Drop
                        } else {
                            Policy::Accept
                        },
                        device: c.dev.as_ref().map(|d| d.to_string()),
                        span,
                    }),
                    _ => None,
                };
                self.rs.tables[ti].chains.push(Chain {
                    name: c.name,
                    base,
                    rules: Vec::new(),
                    span,
                });
            }
            "set" | "map" => self.set(body, off, kind == "map")?,
            other => self.rs.notes.push(format!(
                "line {}: `{other}` objects are not imported",
                span.line
            )),
        }
        Ok(())
    }

    fn set(&mut self, body: Value, off: usize, map: bool) -> Result<(), Vec<Diagnostic>> {
        let s: SetJ = self.typed(body, "set", off)?;
        let ti = self.table_index(&s.family, &s.table, off)?;
        let type_text = match &s.ty {
            Value::String(t) => t.clone(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" . "),
            other => other.to_string(),
        };
        let interval = match &s.flags {
            Some(Value::Array(a)) => a.iter().any(|f| f == "interval"),
            Some(Value::String(f)) => f == "interval",
            _ => false,
        };
        let mut unknown = set_state(&s);
        let mut keys = Vec::new();
        let mut entries = Vec::new();
        for e in s.elem.unwrap_or_default() {
            match (map, &e) {
                (true, Value::Array(kv)) if kv.len() == 2 => {
                    let k = rv(&kv[0]).ok_or_else(|| {
                        self.error(off, "a map element that cannot be read".into())
                    })?;
                    let v = rv(&kv[1])
                        .ok_or_else(|| self.error(off, "a map value that cannot be read".into()))?;
                    keys.push(k.clone());
                    entries.push((k, v));
                }
                // one set nft reads and the import cannot: its lookups stay in netfilter
                _ => match rv(&e) {
                    Some(k) => keys.push(k),
                    None => {
                        unknown.get_or_insert("elements the import cannot read".into());
                    }
                },
            }
        }
        let content = match expr::set_keys(&type_text) {
            Some(k) => expr::set_content(&k, &keys),
            None => SetContent::External,
        };
        // an nft set is never an ipset to export
        if content == SetContent::External {
            let pairs: Vec<(Rv, Option<Rv>)> = keys.iter().map(|k| (k.clone(), None)).collect();
            unknown.get_or_insert(expr::unreadable_elements(&pairs));
        }
        let verdict_map = map && s.map.as_ref().is_some_and(|m| m == "verdict");
        let verdicts = verdict_map.then(|| {
            entries
                .iter()
                .map(|(_, v)| verdict_of(v).unwrap_or(Verdict::Continue))
                .collect()
        });
        if verdict_map {
            self.maps.push(MapDef {
                table: ti,
                name: s.name.clone(),
                entries,
            });
        }
        let map_type = s
            .map
            .as_ref()
            .and_then(Value::as_str)
            .map(|m| format!(" : {m}"))
            .unwrap_or_default();
        self.rs.sets.push(NamedSet {
            table: Some(ti),
            name: s.name,
            type_text: format!("{type_text}{map_type}"),
            content,
            verdicts,
            interval,
            unknown,
            span: self.idx.span(off, off + 1),
        });
        Ok(())
    }

    fn rule(&mut self, body: Value, off: usize, len: usize) -> Result<(), Vec<Diagnostic>> {
        let source = serde_json::to_string(&body).unwrap_or_default();
        let r: RuleJ = self.typed(body, "rule", off)?;
        let ti = self.table_index(&r.family, &r.table, off)?;
        let ci = self.rs.tables[ti].chain(&r.chain).ok_or_else(|| {
            self.error(
                off,
                format!("chain {} is not listed before its rules", r.chain),
            )
        })?;
        let v = self.rs.tables[ti].family.ip_versions();
        let sets: Vec<(usize, &NamedSet)> = self
            .rs
            .sets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.table == Some(ti))
            .collect();
        let maps: Vec<MapDef> = self
            .maps
            .iter()
            .filter(|m| m.table == ti)
            .cloned()
            .collect();
        let ctx = Ctx {
            table_v: (v.len() == 1).then(|| v[0]),
            sets,
            maps: &maps,
        };
        let mut read = statements(&r.expr, &ctx);
        if read.comment.is_none() {
            read.comment = r.comment;
        }
        let _ = self.text;
        let id = self.rs.rules.len();
        self.rs.rules.push(Rule {
            span: self.idx.span(off, off + len),
            source,
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
}

struct Ctx<'a> {
    table_v: Option<IpVersion>,
    sets: Vec<(usize, &'a NamedSet)>,
    maps: &'a [MapDef],
}

/// A rule's statements; one that cannot be read makes the rest of the rule opaque.
fn statements(exprs: &[Value], ctx: &Ctx<'_>) -> Read {
    let mut out = Read::default();
    for (i, s) in exprs.iter().enumerate() {
        if let Err(why) = statement(s, ctx, &mut out) {
            let rest: Vec<String> = exprs[i..].iter().map(|v| v.to_string()).collect();
            out.matches.push(Match::opaque(
                Feature::Other,
                format!("{} ({why})", rest.join(", ")),
            ));
            if out.verdict.is_none() {
                out.verdict = exprs.last().and_then(|v| verdict_stmt(v).ok().flatten());
            }
            // a verdict map, an anonymous chain (`"jump { ... }"`), NAT ...: a verdict
            // the import cannot place, never "no verdict"
            let decides = || {
                rest.iter().any(|t| {
                    t.split(|c: char| !c.is_ascii_alphanumeric())
                        .any(stmt::may_decide)
                })
            };
            if out.verdict.is_none() && decides() {
                out.verdict = Some(Verdict::Other {
                    feature: Feature::Other,
                    text: rest.join(", "),
                });
            }
            break;
        }
    }
    out
}

/// A verdict statement, if `s` is one.
fn verdict_stmt(s: &Value) -> Result<Option<Verdict>, String> {
    let Some((k, v)) = s.as_object().and_then(|o| o.iter().next()) else {
        return Err("not a statement".into());
    };
    Ok(Some(match k.as_str() {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "continue" => Verdict::Continue,
        "return" => Verdict::Return,
        "jump" | "goto" => {
            let target = v
                .get("target")
                .and_then(Value::as_str)
                .ok_or("a jump without a target")?
                .to_string();
            if k == "jump" {
                Verdict::Jump(target)
            } else {
                Verdict::Goto(target)
            }
        }
        _ => return Ok(None),
    }))
}

fn statement(s: &Value, ctx: &Ctx<'_>, out: &mut Read) -> Result<(), String> {
    if let Some(v) = verdict_stmt(s)? {
        return set_verdict(out, v);
    }
    let (k, v) = s
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or("not a statement")?;
    let text = || s.to_string();
    match k.as_str() {
        "match" => relation(v, ctx, out)?,
        "counter" => out.effects.push(Effect::Counter),
        "log" => out.effects.push(Effect::Log {
            prefix: v.get("prefix").and_then(Value::as_str).map(str::to_string),
        }),
        "reject" => {
            let with = match (
                v.get("type").and_then(Value::as_str),
                v.get("expr").and_then(Value::as_str),
            ) {
                (Some("tcp reset"), _) => RejectWith::TcpReset,
                (_, None | Some("port-unreachable")) => RejectWith::Default,
                (t, Some(e)) => RejectWith::Icmp(format!("{} {e}", t.unwrap_or("icmp"))),
            };
            out.matches.extend(with.nft_dependency());
            set_verdict(out, Verdict::Reject(with))?
        }
        "limit" => out.matches.push(limit(v)),
        "vmap" => vmap(v, ctx, out)?,
        "dnat" | "snat" | "masquerade" | "redirect" => set_verdict(
            out,
            Verdict::Other {
                feature: Feature::Nat,
                text: text(),
            },
        )?,
        "queue" => set_verdict(
            out,
            Verdict::Other {
                feature: Feature::Queue,
                text: text(),
            },
        )?,
        // tproxy assigns a socket and goes on, or ends the rule when there is none
        "tproxy" => {
            out.matches.push(Match::opaque(Feature::Other, text()));
            out.effects.push(Effect::Other {
                feature: Feature::Other,
                text: text(),
            });
        }
        "synproxy" | "fwd" => set_verdict(
            out,
            Verdict::Other {
                feature: Feature::Other,
                text: text(),
            },
        )?,
        "mangle" => {
            let key = v.get("key").map(Value::to_string).unwrap_or_default();
            let f = if key.contains("\"mark\"") {
                Feature::Mark
            } else {
                Feature::Mangle
            };
            out.effects.push(Effect::Other {
                feature: f,
                text: text(),
            })
        }
        "notrack" | "ct helper" | "ct timeout" | "ct expectation" => {
            out.effects.push(Effect::Other {
                feature: Feature::Conntrack,
                text: text(),
            })
        }
        "meter" | "set" | "map" => out.matches.push(Match::opaque(Feature::Hashlimit, text())),
        "quota" | "ct count" => out.matches.push(Match::opaque(Feature::Other, text())),
        // `xt` of type `match` (iptables-nft's compat match) decides, like any match
        "xt" if v.get("type").and_then(Value::as_str) == Some("match") => {
            out.matches.push(Match::opaque(Feature::Other, text()))
        }
        "dup" | "flow" | "xt" | "last" | "secmark" => out.effects.push(Effect::Other {
            feature: Feature::Other,
            text: text(),
        }),
        other => return Err(format!("statement `{other}`")),
    }
    Ok(())
}

fn set_verdict(out: &mut Read, v: Verdict) -> Result<(), String> {
    if out.verdict.is_some() {
        return Err("a second verdict".into());
    }
    out.verdict = Some(v);
    Ok(())
}

/// `{"rate": N, "per": "second", "burst": B}` as the same key `limit rate N/second
/// burst B packets` gives in text.
fn limit(v: &Value) -> Match {
    let packets = v
        .get("rate_unit")
        .and_then(Value::as_str)
        .is_none_or(|u| u == "packets");
    let over = v.get("inv").and_then(Value::as_bool).unwrap_or(false);
    let rate = v.get("rate").map(Value::to_string).unwrap_or_default();
    let per = v.get("per").and_then(Value::as_str).unwrap_or("second");
    let burst = v.get("burst").map_or("5".to_string(), Value::to_string);
    if packets {
        let key = crate::names::limit_key(&format!("{rate}/{per}"), &burst);
        let head = if over { "limit over" } else { "limit" };
        Match::opaque(Feature::Limit, key.replacen("limit", head, 1))
    } else {
        Match::opaque(Feature::Limit, format!("limit {}", v))
    }
}

/// The selector words of a JSON expression (`{"payload": {"protocol": "ip", "field":
/// "saddr"}}` → `ip saddr`), or `None` for what has no selector words.
fn selector_words(e: &Value) -> Option<Vec<String>> {
    let (k, v) = e.as_object()?.iter().next()?;
    let s = |x: &Value| x.as_str().map(str::to_string);
    Some(match k.as_str() {
        "payload" => vec![s(v.get("protocol")?)?, s(v.get("field")?)?],
        "meta" => vec!["meta".into(), s(v.get("key")?)?],
        "ct" => {
            let mut w = vec!["ct".to_string()];
            if let Some(d) = v.get("dir").and_then(Value::as_str) {
                w.push(d.into());
            }
            w.push(s(v.get("key")?)?);
            w
        }
        _ => return None,
    })
}

fn relation(v: &Value, ctx: &Ctx<'_>, out: &mut Read) -> Result<(), String> {
    let op = Op::parse(v.get("op").and_then(Value::as_str).unwrap_or("=="))
        .ok_or("an unknown operator")?;
    let left = v.get("left").ok_or("a match without left")?;
    let right = v.get("right").ok_or("a match without right")?;
    let opaque = |out: &mut Read, words: &[String]| {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let f = expr::selector_feature(&w);
        out.matches.push(Match::opaque(
            f,
            format!(
                "{left} {} {right}",
                v.get("op").and_then(Value::as_str).unwrap_or("==")
            ),
        ));
    };
    if let Some(socket) = left.get("socket") {
        if socket.get("key").and_then(Value::as_str) == Some("cgroupv2") {
            let level = socket.get("level").and_then(Value::as_u64);
            let level = level.and_then(|l| u32::try_from(l).ok());
            let text = format!(
                "socket cgroupv2 level {} {} {right}",
                level.map_or("?".to_string(), |l| l.to_string()),
                v.get("op").and_then(Value::as_str).unwrap_or("==")
            );
            let m = match rv(right) {
                Some(r) => expr::cgroupv2(level, op, &r, &text),
                None => Match::opaque(Feature::Owner, text),
            };
            out.matches.push(m);
            return Ok(());
        }
    }
    // `left & mask op value`
    let (sel_exprs, mask): (Vec<&Value>, Option<&Value>) =
        match left.as_object().and_then(|o| o.iter().next()) {
            Some((k, Value::Array(parts))) if k == "concat" => (parts.iter().collect(), None),
            Some((k, Value::Array(parts))) if k == "&" && parts.len() == 2 => {
                (vec![&parts[0]], Some(&parts[1]))
            }
            _ => (vec![left], None),
        };
    let mut words = Vec::new();
    for e in &sel_exprs {
        match selector_words(e) {
            Some(w) => words.push(w),
            None => {
                opaque(out, &[]);
                return Ok(());
            }
        }
    }
    let mut keys = Vec::new();
    let mut deps = Vec::new();
    for w in &words {
        let ws: Vec<&str> = w.iter().map(String::as_str).collect();
        match expr::selector(&ws, ctx.table_v) {
            Some((k, d)) => {
                keys.push(k);
                deps.extend(d);
            }
            None => {
                opaque(out, w);
                return Ok(());
            }
        }
    }
    let Some(mut rhs) = rv(right) else {
        opaque(out, &words[0]);
        return Ok(());
    };
    if let Some(m) = mask {
        let Some(m) = rv(m) else {
            opaque(out, &words[0]);
            return Ok(());
        };
        if !expr::maskable(&keys) {
            opaque(out, &words[0]);
            return Ok(());
        }
        rhs = Rv::Masked {
            value: Box::new(rhs),
            mask: Box::new(m),
        };
    }
    match expr::relation(&keys, op, &rhs, &ctx.sets) {
        Ok(m) => {
            out.matches.extend(deps);
            out.matches.push(m);
        }
        Err(_) => opaque(out, &words[0]),
    }
    Ok(())
}

fn vmap(v: &Value, ctx: &Ctx<'_>, out: &mut Read) -> Result<(), String> {
    let key = v.get("key").ok_or("a vmap without key")?;
    // one selector, or a concatenation (`ip daddr . tcp dport vmap { ... }`), as the
    // text reader reads them
    let parts: Vec<&Value> = match key.get("concat") {
        Some(Value::Array(parts)) => parts.iter().collect(),
        _ => vec![key],
    };
    let mut keys = Vec::with_capacity(parts.len());
    let mut deps = Vec::new();
    for part in parts {
        let words =
            selector_words(part).ok_or("a vmap on an expression the import does not read")?;
        let ws: Vec<&str> = words.iter().map(String::as_str).collect();
        let (k, d) = expr::selector(&ws, ctx.table_v)
            .ok_or("a vmap on a selector the import does not read")?;
        keys.push(k);
        deps.extend(d);
    }
    let entries: Vec<(Rv, Rv)> = match v.get("data") {
        Some(Value::String(name)) => {
            let name = name.strip_prefix('@').ok_or("a vmap on a value")?;
            ctx.maps
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.entries.clone())
                .ok_or(format!("map @{name} does not exist"))?
        }
        Some(d) => match rv(d) {
            Some(Rv::Set(e)) => e
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or(Rv::Text(String::new()))))
                .collect(),
            _ => return Err("a vmap whose data cannot be read".into()),
        },
        None => return Err("a vmap without data".into()),
    };
    let mut list = Vec::new();
    for (key, verdict) in entries {
        list.push((expr::element(&keys, &key)?, verdict_of(&verdict)?));
    }
    out.matches.extend(deps);
    set_verdict(
        out,
        Verdict::Map {
            keys,
            entries: list,
        },
    )
}

/// Why a set's listed elements are not what its lookups see at run time (the text
/// reader's `flags`, set statements and per-element statements, as JSON lists them).
fn set_state(s: &SetJ) -> Option<String> {
    let flags: Vec<&str> = match &s.flags {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(f)) => vec![f.as_str()],
        _ => Vec::new(),
    };
    if let Some(f) = flags.iter().find(|f| matches!(**f, "dynamic" | "timeout")) {
        return Some(format!("`flags {f}`"));
    }
    if s.timeout.is_some() {
        return Some("`timeout` on its elements".into());
    }
    let stateful = |o: &serde_json::Map<String, Value>| {
        ["limit", "quota", "timeout", "expires"]
            .into_iter()
            .find(|k| o.contains_key(*k))
    };
    for st in s.stmt.iter().flatten() {
        if let Some(k) = st.as_object().and_then(stateful) {
            return Some(format!("`{k}` on its elements"));
        }
    }
    for e in s.elem.iter().flatten() {
        let inner = match e {
            Value::Array(kv) => kv.first(),
            other => Some(other),
        };
        let per = inner
            .and_then(|v| v.get("elem"))
            .and_then(Value::as_object)
            .and_then(stateful);
        if let Some(k) = per {
            return Some(format!("elements with `{k}`"));
        }
    }
    None
}

/// A JSON right-hand side (or set element, or map value) as the text reader's [`Rv`].
fn rv(v: &Value) -> Option<Rv> {
    Some(match v {
        Value::String(s) => match s.strip_prefix('@') {
            Some(name) => Rv::SetRef(name.to_string()),
            None => Rv::Text(s.clone()),
        },
        Value::Number(n) => Rv::Text(n.to_string()),
        Value::Bool(b) => Rv::Text(b.to_string()),
        Value::Array(items) => Rv::List(items.iter().map(rv).collect::<Option<_>>()?),
        Value::Object(o) => {
            let (k, x) = o.iter().next()?;
            match k.as_str() {
                // An address, or a number (a mark: `ct mark 0x01000000/8`).
                "prefix" => Rv::Prefix(
                    match x.get("addr")? {
                        Value::Number(n) => n.to_string(),
                        a => a.as_str()?.to_string(),
                    },
                    x.get("len")?.as_u64()? as u32,
                ),
                "range" => {
                    let a = x.as_array()?;
                    Rv::Range(Box::new(rv(a.first()?)?), Box::new(rv(a.get(1)?)?))
                }
                "concat" => Rv::Concat(x.as_array()?.iter().map(rv).collect::<Option<_>>()?),
                "set" => Rv::Set(set_items(x)?),
                "elem" => rv(x.get("val")?)?,
                "accept" | "drop" | "continue" | "return" => Rv::Text(k.clone()),
                "jump" | "goto" => Rv::Text(format!("{k} {}", x.get("target")?.as_str()?)),
                _ => return None,
            }
        }
        Value::Null => return None,
    })
}

fn set_items(x: &Value) -> Option<Vec<(Rv, Option<Rv>)>> {
    match x {
        Value::Array(items) => items
            .iter()
            .map(|it| match it {
                Value::Array(kv) if kv.len() == 2 && !kv[0].is_array() => {
                    Some((rv(&kv[0])?, Some(rv(&kv[1])?)))
                }
                other => Some((rv(other)?, None)),
            })
            .collect(),
        other => Some(vec![(rv(other)?, None)]),
    }
}
