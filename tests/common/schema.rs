//! A small JSON Schema validator for the schemas in `docs/schemas/` (the subset of
//! JSON Schema 2020-12 they use: `$ref` within and across the files, `type`, `const`,
//! `enum`, `properties`, `required`, `additionalProperties: false`, `items`, `anyOf`,
//! `oneOf`, `minimum`, `maximum`, the rule-id `pattern` and `format: date-time`;
//! anything else fails loudly rather than being ignored).

use std::collections::BTreeMap;

use serde_json::Value;

pub struct Schemas(pub BTreeMap<String, Value>);

impl Schemas {
    pub fn load() -> Schemas {
        let dir = super::root().join("docs/schemas");
        let mut map = BTreeMap::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            map.insert(p.file_name().unwrap().to_string_lossy().into_owned(), v);
        }
        Schemas(map)
    }

    fn resolve(&self, file: &str, r: &str) -> (String, Value) {
        let (f, pointer) = r.split_once('#').expect("ref with #");
        let f = if f.is_empty() { file } else { f };
        let doc = self
            .0
            .get(f)
            .unwrap_or_else(|| panic!("no schema file {f}"));
        let v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{f}#{pointer} not found"));
        (f.to_string(), v.clone())
    }

    /// Errors of `v` against `schema` (from `file`), with JSON pointers.
    pub fn check(&self, file: &str, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(obj) = schema.as_object() else {
            return;
        };
        for key in obj.keys() {
            assert!(
                [
                    "$schema",
                    "$id",
                    "$defs",
                    "title",
                    "description",
                    "$ref",
                    "type",
                    "const",
                    "enum",
                    "properties",
                    "required",
                    "additionalProperties",
                    "items",
                    "anyOf",
                    "oneOf",
                    "minimum",
                    "maximum",
                    "pattern",
                    "format"
                ]
                .contains(&key.as_str()),
                "{file}: keyword `{key}` is not supported by this validator"
            );
        }
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            let (f, s) = self.resolve(file, r);
            self.check(&f, &s, v, at, errs);
        }
        if let Some(t) = obj.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => panic!("bad type"),
            };
            let ok = types.iter().any(|t| match *t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                "null" => v.is_null(),
                other => panic!("type {other}"),
            });
            if !ok {
                errs.push(format!("{at}: {v} is not {types:?}"));
                return;
            }
        }
        if let Some(c) = obj.get("const") {
            if c != v {
                errs.push(format!("{at}: {v} is not {c}"));
            }
        }
        if let Some(e) = obj.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                errs.push(format!("{at}: {v} not in {e:?}"));
            }
        }
        if let (Some(min), Some(n)) = (obj.get("minimum").and_then(Value::as_f64), v.as_f64()) {
            if n < min {
                errs.push(format!("{at}: {n} < {min}"));
            }
        }
        if let (Some(max), Some(n)) = (obj.get("maximum").and_then(Value::as_f64), v.as_f64()) {
            if n > max {
                errs.push(format!("{at}: {n} > {max}"));
            }
        }
        if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
            assert_eq!(
                p, "^r[0-9a-f]{12}$",
                "only the rule-id pattern is supported"
            );
            let ok = v.as_str().is_some_and(|s| {
                s.len() == 13
                    && s.starts_with('r')
                    && s[1..]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            if !ok {
                errs.push(format!("{at}: {v} is not a rule id"));
            }
        }
        if let Some(f) = obj.get("format").and_then(Value::as_str) {
            assert_eq!(f, "date-time");
            let ok = v.as_str().is_some_and(|s| {
                let b = s.as_bytes();
                b.len() >= 20
                    && b[4] == b'-'
                    && b[7] == b'-'
                    && b[10] == b'T'
                    && b[13] == b':'
                    && b[16] == b':'
                    && (s.ends_with('Z') || s[19..].contains(['+', '-']))
            });
            if !ok {
                errs.push(format!("{at}: {v} is not an RFC 3339 date-time"));
            }
        }
        if let Some(m) = v.as_object() {
            let props = obj.get("properties").and_then(Value::as_object);
            for req in obj
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let k = req.as_str().unwrap();
                if !m.contains_key(k) {
                    errs.push(format!("{at}: `{k}` missing"));
                }
            }
            for (k, x) in m {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => self.check(file, s, x, &format!("{at}/{k}"), errs),
                    None => {
                        if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
                            errs.push(format!("{at}: `{k}` is not in the schema"));
                        }
                    }
                }
            }
        }
        if let (Some(items), Some(a)) = (obj.get("items"), v.as_array()) {
            for (i, x) in a.iter().enumerate() {
                self.check(file, items, x, &format!("{at}/{i}"), errs);
            }
        }
        for (kw, exactly_one) in [("anyOf", false), ("oneOf", true)] {
            if let Some(alts) = obj.get(kw).and_then(Value::as_array) {
                let results: Vec<Vec<String>> = alts
                    .iter()
                    .map(|s| {
                        let mut e = Vec::new();
                        self.check(file, s, v, at, &mut e);
                        e
                    })
                    .collect();
                let ok = results.iter().filter(|e| e.is_empty()).count();
                if ok == 0 || (exactly_one && ok > 1) {
                    errs.push(format!(
                        "{at}: {ok} of the {kw} alternatives match: {results:?}"
                    ));
                }
            }
        }
    }

    /// Checks one document against `sockc.COMMAND.1.json`.
    #[track_caller]
    pub fn validate(&self, command: &str, doc: &Value) {
        let file = format!("sockc.{command}.1.json");
        let schema = self.0.get(&file).unwrap_or_else(|| panic!("no {file}"));
        let mut errs = Vec::new();
        self.check(&file, schema, doc, "", &mut errs);
        assert!(errs.is_empty(), "{command}: {errs:#?}\n{doc:#}");
        assert_eq!(doc["schema"], format!("sockc.{command}/1"));
    }
}
