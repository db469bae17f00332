//! The JSON contract every `--json` shares (docs/json.md): one JSON document on stdout
//! per invocation (a `--watch` or `trace`: one per line), an object whose `schema`
//! names the command's schema and its version (`sockc.stats/1`), diagnostics and
//! notices inside that object, and a failure is an object too:
//! `{"schema": ..., "error": {"message": ...}}`, with the exit code the text output
//! would have had.

use serde_json::json;

/// Prints the failure object of schema `schema` on stdout.
pub fn print_error(schema: &str, message: &str) {
    let v = json!({ "schema": schema, "error": { "message": message } });
    println!("{}", serde_json::to_string_pretty(&v).expect("json"));
}
