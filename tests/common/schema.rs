//! The schemas in `docs/schemas/` (JSON Schema 2020-12), checked with the `jsonschema`
//! crate: every file is loaded once, `$ref`s across files (`common.json#/$defs/...`)
//! resolve to the loaded files and never to the network, and formats (`date-time`)
//! are validated, not just annotated.

use std::collections::BTreeMap;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

/// Where the schemas' relative `$id`s and `$ref`s resolve; nothing is fetched from it.
const BASE: &str = "https://sockc.invalid/schemas/";

pub struct Schemas(pub BTreeMap<String, Value>);

/// Serves `$ref`s to other schema files from the loaded ones.
struct Loaded(BTreeMap<String, Value>);

impl Retrieve for Loaded {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().strip_prefix(BASE).unwrap_or(uri.as_str());
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no schema file {name} (asked for {uri})").into())
    }
}

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

    /// The validator of one schema file.
    fn validator(&self, file: &str) -> Validator {
        let schema = self.0.get(file).unwrap_or_else(|| panic!("no {file}"));
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_base_uri(format!("{BASE}{file}"))
            .with_retriever(Loaded(self.0.clone()))
            .should_validate_formats(true)
            .build(schema)
            .unwrap_or_else(|e| panic!("{file} is not a valid schema: {e}"))
    }

    /// Errors of `v` against the schema file `file`, each with its JSON pointer.
    pub fn check(&self, file: &str, v: &Value) -> Vec<String> {
        self.validator(file)
            .iter_errors(v)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    /// Checks one document against `sockc.COMMAND.1.json`.
    #[track_caller]
    pub fn validate(&self, command: &str, doc: &Value) {
        let file = format!("sockc.{command}.1.json");
        let errs = self.check(&file, doc);
        assert!(errs.is_empty(), "{command}: {errs:#?}\n{doc:#}");
        assert_eq!(doc["schema"], format!("sockc.{command}/1"));
    }
}
