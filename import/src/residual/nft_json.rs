//! The residual of an nft JSON ruleset, in nft JSON: the source's objects with their
//! tables renamed, base chains at shared places turned into dispatchers, the chains
//! they reach copied twice ([`super::layout`]), each rule object copied with only its
//! verdicts and jump targets changed. Objects are written tables first, then chains,
//! then the other objects, then rules, the order `nft -j -f` needs (a rule or a
//! verdict map may name a chain only once it exists).
//!
//! Invariant: a rule's expressions are the source's, value for value, except verdict
//! objects (`accept`, `drop`, `jump`, `goto`) and `@name`s of verdict maps.

use serde_json::{json, Map, Value};

use super::{
    kept_mode,
    layout::Layout,
    names::{self, nft, Copy},
    plan::Plan,
    sees_ipv6, Built, Dispatcher, VerdictMode, EXT_HEADERS,
};
use crate::model::Ruleset;

/// The output, in the order `nft -j -f` reads it.
#[derive(Default)]
struct Out {
    head: Vec<Value>,
    chains: Vec<Value>,
    objects: Vec<Value>,
    rules: Vec<Value>,
}

/// Writes the residual of nft JSON `text` (which `rs` was read from).
pub fn write(text: &str, rs: &Ruleset, plan: &Plan, layout: &Layout, mark: u32) -> Option<Built> {
    let doc: Value = serde_json::from_str(text).ok()?;
    let items = doc.get("nftables")?.as_array()?;
    let mut w = Writer {
        rs,
        plan,
        layout,
        mark,
        out: Out::default(),
        dispatchers: Vec::new(),
        rule_no: 0,
        chain_no: vec![0; rs.tables.len()],
    };
    for item in items {
        let (kind, body) = item.as_object()?.iter().next()?;
        w.item(kind, body)?;
    }
    if w.rule_no != rs.rules.len() {
        return None;
    }
    w.accepted_chains();
    let Out {
        head,
        chains,
        objects,
        rules,
    } = w.out;
    let all: Vec<Value> = head
        .into_iter()
        .chain(chains)
        .chain(objects)
        .chain(rules)
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({ "nftables": all })).ok()?;
    text.push('\n');
    Some(Built {
        text,
        dispatchers: w.dispatchers,
    })
}

struct Writer<'a> {
    rs: &'a Ruleset,
    plan: &'a Plan,
    layout: &'a Layout,
    mark: u32,
    out: Out,
    dispatchers: Vec<Dispatcher>,
    /// The next rule object's id in the model (rules are read in document order).
    rule_no: usize,
    /// Per table, the next chain object's index.
    chain_no: Vec<usize>,
}

impl Writer<'_> {
    fn table_of(&self, body: &Value) -> Option<usize> {
        let family = body.get("family")?.as_str()?;
        let name = body.get("table")?.as_str()?;
        self.rs
            .tables
            .iter()
            .position(|t| t.family.name() == family && t.name == name)
    }

    fn item(&mut self, kind: &str, body: &Value) -> Option<()> {
        match kind {
            "metainfo" => self.out.head.push(json!({ kind: body })),
            "table" => {
                let mut b = body.as_object()?.clone();
                let name = b.get("name")?.as_str()?.to_string();
                b.insert("name".into(), json!(names::nft_table(&name)));
                b.insert("comment".into(), json!(names::nft_table_comment()));
                b.remove("handle");
                self.out.head.push(json!({ "table": b }));
            }
            "chain" => self.chain(body)?,
            "rule" => self.rule(body)?,
            "map" if body.get("map").and_then(Value::as_str) == Some("verdict") => {
                self.verdict_map(body)?
            }
            _ => {
                let b = renamed(body)?;
                self.out.objects.push(json!({ kind: b }));
            }
        }
        Some(())
    }

    fn chain(&mut self, body: &Value) -> Option<()> {
        let ti = self.table_of(body)?;
        let ci = self.chain_no[ti];
        self.chain_no[ti] += 1;
        let cp = *self.layout.copies[ti].get(ci)?;
        let name = body.get("name")?.as_str()?.to_string();
        let base = renamed(body)?;
        let plain = |n: String| {
            let mut c = Map::new();
            for k in ["family", "table"] {
                c.insert(k.into(), base[k].clone());
            }
            c.insert("name".into(), json!(n));
            json!({ "chain": c })
        };
        if cp.dispatch {
            let mut d = base.clone();
            d.insert("policy".into(), json!("accept"));
            self.out.chains.push(json!({ "chain": d }));
            self.out.chains.push(plain(nft::min(&name)));
            self.out.chains.push(plain(nft::full(&name)));
            self.dispatch_rules(ti, ci, &base, &name);
        } else if cp.same {
            self.out.chains.push(json!({ "chain": base.clone() }));
        }
        if cp.split {
            self.out.chains.push(plain(nft::kept(&name)));
            self.out.chains.push(plain(nft::whole(&name)));
        }
        Some(())
    }

    /// The dispatcher's one rule and its two mode chains' rules.
    fn dispatch_rules(&mut self, ti: usize, ci: usize, base: &Map<String, Value>, name: &str) {
        let family = base["family"].clone();
        let table = base["table"].clone();
        let rule = |chain: String, expr: Vec<Value>| json!({ "rule": { "family": family, "table": table, "chain": chain, "expr": expr } });
        let p = Layout::policies(self.rs, self.plan, ti, ci);
        let verdict = |drop: bool| {
            if drop {
                json!({"drop": null})
            } else {
                json!({"accept": null})
            }
        };
        let jump = |k: &str, to: String| json!({ k: { "target": to } });
        self.out
            .rules
            .push(rule(name.to_string(), vec![jump("goto", nft::min(name))]));
        // The bit is cleared first: a packet that comes with it (a socket's SO_MARK)
        // would otherwise pass sockc's block as decided here.
        self.out
            .rules
            .push(rule(nft::min(name), vec![clear_mark(self.mark)]));
        if sees_ipv6(self.rs, ti) {
            // netfilter decides IPv6 packets with extension headers (the full chain)
            let to_full = jump("goto", nft::full(name));
            self.out
                .rules
                .push(rule(nft::min(name), vec![ext_headers(), to_full]));
        }
        self.out
            .rules
            .push(rule(nft::min(name), vec![jump("jump", nft::kept(name))]));
        self.out
            .rules
            .push(rule(nft::min(name), vec![verdict(p.min_drop)]));
        self.out
            .rules
            .push(rule(nft::full(name), vec![set_mark(self.mark)]));
        self.out
            .rules
            .push(rule(nft::full(name), vec![jump("jump", nft::whole(name))]));
        self.out
            .rules
            .push(rule(nft::full(name), vec![verdict(p.full_drop)]));
        self.dispatchers.push(Dispatcher {
            family: family.as_str().unwrap_or_default().to_string(),
            table: table.as_str().unwrap_or_default().to_string(),
            chain: name.to_string(),
        });
    }

    fn rule(&mut self, body: &Value) -> Option<()> {
        let id = self.rule_no;
        self.rule_no += 1;
        let model = self.rs.rules.get(id)?;
        let (ti, ci) = (model.table, model.chain);
        let cp = *self.layout.copies[ti].get(ci)?;
        let chain = self.rs.tables[ti].chains[ci].name.clone();
        let base = renamed(body)?;
        if cp.same && !cp.dispatch {
            self.out
                .rules
                .push(self.copy(&base, ti, Copy::Same, &chain, VerdictMode::Same));
        }
        if cp.split {
            let named_vmap = mentions_named_vmap(body.get("expr")?);
            if let Some(mode) = kept_mode(self.plan, self.rs, id, named_vmap) {
                self.out
                    .rules
                    .push(self.copy(&base, ti, Copy::Kept, &chain, mode));
            }
            self.out
                .rules
                .push(self.copy(&base, ti, Copy::Whole, &chain, VerdictMode::Same));
        }
        Some(())
    }

    /// A rule object for `copy` of its chain, its verdicts per `mode`.
    fn copy(
        &self,
        base: &Map<String, Value>,
        ti: usize,
        copy: Copy,
        chain: &str,
        mode: VerdictMode,
    ) -> Value {
        let mut r = base.clone();
        r.insert("chain".into(), json!(copy.name(chain)));
        if let Some(expr) = r.get_mut("expr") {
            self.edit(expr, ti, copy, mode);
        }
        json!({ "rule": r })
    }

    /// Edits verdicts and jump targets in `v`, recursively.
    fn edit(&self, v: &mut Value, ti: usize, copy: Copy, mode: VerdictMode) {
        match v {
            Value::Array(a) => a.iter_mut().for_each(|x| self.edit(x, ti, copy, mode)),
            Value::String(s) => {
                if let Some(m) = s.strip_prefix('@') {
                    if self.is_vmap(ti, m) {
                        *s = format!("@{}", copy.name(m));
                    }
                }
            }
            Value::Object(o) => {
                if o.len() == 1 {
                    if let Some(new) = self.verdict(o, ti, copy, mode) {
                        *v = new;
                        return;
                    }
                }
                o.values_mut().for_each(|x| self.edit(x, ti, copy, mode));
            }
            _ => {}
        }
    }

    /// A verdict object `o` changed for `copy` and `mode`, when it changes.
    fn verdict(
        &self,
        o: &Map<String, Value>,
        ti: usize,
        copy: Copy,
        mode: VerdictMode,
    ) -> Option<Value> {
        let (k, body) = o.iter().next()?;
        match (k.as_str(), mode) {
            ("accept", VerdictMode::Keep) => Some(json!({"jump": {"target": nft::ACCEPTED}})),
            ("drop", VerdictMode::Defer) => Some(json!({"accept": null})),
            ("jump" | "goto", _) => {
                let target = body.get("target")?.as_str()?;
                self.rs.tables[ti].chain(target)?;
                Some(json!({ k: { "target": copy.name(target) } }))
            }
            _ => None,
        }
    }

    fn is_vmap(&self, ti: usize, name: &str) -> bool {
        self.rs
            .sets
            .iter()
            .any(|s| s.table == Some(ti) && s.name == name && s.verdicts.is_some())
    }

    /// A named verdict map: as it is for the chains kept as they are, and one copy for
    /// each of the kept and whole copies, its jumps leading into the same copy.
    fn verdict_map(&mut self, body: &Value) -> Option<()> {
        let ti = self.table_of(body)?;
        let base = renamed(body)?;
        let name = base.get("name")?.as_str()?.to_string();
        let (same, split) = self.layout.map_copies(self.rs, ti, &name);
        let mut out = Vec::new();
        if same {
            out.push(json!({ "map": base.clone() }));
        }
        if split {
            for (copy, mode) in [
                (Copy::Kept, VerdictMode::Keep),
                (Copy::Whole, VerdictMode::Same),
            ] {
                let mut m = base.clone();
                m.insert("name".into(), json!(copy.name(&name)));
                if let Some(e) = m.get_mut("elem") {
                    self.edit(e, ti, copy, mode);
                }
                out.push(json!({ "map": m }));
            }
        }
        self.out.objects.extend(out);
        Some(())
    }

    /// `sockc_accepted` in every table with copies.
    fn accepted_chains(&mut self) {
        for (ti, t) in self.rs.tables.iter().enumerate() {
            if !self.layout.copies[ti].iter().any(|c| c.split) {
                continue;
            }
            let (family, table) = (t.family.name(), names::nft_table(&t.name));
            self.out
                .chains
                .push(json!({"chain": {"family": family, "table": table, "name": nft::ACCEPTED}}));
            for expr in [set_mark(self.mark), json!({"accept": null})] {
                self.out.rules.push(json!({"rule": {
                    "family": family, "table": table, "chain": nft::ACCEPTED, "expr": [expr]
                }}));
            }
        }
    }
}

/// An object's body with its table renamed to the residual's and its handle dropped.
fn renamed(body: &Value) -> Option<Map<String, Value>> {
    let mut b = body.as_object()?.clone();
    if let Some(t) = b.get("table").and_then(Value::as_str) {
        let t = names::nft_table(t);
        b.insert("table".into(), json!(t));
    }
    b.remove("handle");
    Some(b)
}

/// `ip6 nexthdr { 0, 43, 44, 51, 60 }` ([`EXT_HEADERS`]).
fn ext_headers() -> Value {
    json!({"match": {
        "op": "==",
        "left": {"payload": {"protocol": "ip6", "field": "nexthdr"}},
        "right": {"set": EXT_HEADERS}
    }})
}

/// `meta mark set meta mark | MARK`.
fn set_mark(mark: u32) -> Value {
    json!({"mangle": {
        "key": {"meta": {"key": "mark"}},
        "value": {"|": [{"meta": {"key": "mark"}}, mark]}
    }})
}

/// `meta mark set meta mark & ~MARK`.
fn clear_mark(mark: u32) -> Value {
    json!({"mangle": {
        "key": {"meta": {"key": "mark"}},
        "value": {"&": [{"meta": {"key": "mark"}}, !mark]}
    }})
}

/// Whether expressions `expr` look up a named map (`vmap` with `"@name"` data).
fn mentions_named_vmap(expr: &Value) -> bool {
    match expr {
        Value::Array(a) => a.iter().any(mentions_named_vmap),
        Value::Object(o) => o.iter().any(|(k, v)| {
            (k == "vmap"
                && v.get("data")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.starts_with('@')))
                || mentions_named_vmap(v)
        }),
        _ => false,
    }
}
