//! The JSON contract every `--json` shares (docs/json.md):
//!
//! - one JSON document on stdout per invocation (`stats --watch` and `trace`: one per
//!   line), an object whose `schema` names the command's schema and its version
//!   (`sockc.stats/1`); the schemas are `docs/schemas/*.json`;
//! - the rule file's diagnostics inside that object (`diagnostics`, always present for
//!   the commands that compile), never on stderr;
//! - a failure is a document too, `{"schema", "error": {"message", "exit_code"},
//!   "diagnostics"?}`, with the exit code the text output would have had.
//!
//! `main` turns JSON on with the command's schema; [`emit`] prints a command's
//! document, [`finish`] prints the failure document when a command failed before it
//! printed one. Human text (notes, warnings, errors) still goes to stderr.

use super::stdout;
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Mutex, OnceLock,
};

use serde_json::{json, Value};

static SCHEMA: OnceLock<&'static str> = OnceLock::new();
static DIAGNOSTICS: Mutex<Option<Vec<Value>>> = Mutex::new(None);
static LAST_ERROR: Mutex<Option<String>> = Mutex::new(None);
static PRINTED: AtomicBool = AtomicBool::new(false);

/// Prints `sockc: MESSAGE` on stderr (escaped, `stderr`) and keeps the message, as it
/// is, for a JSON failure.
macro_rules! sockc_error {
    ($($t:tt)*) => {{
        let m = format!($($t)*);
        $crate::shared::json::record_error(&m);
        $crate::shared::stderr::errln!("sockc: {m}");
    }};
}
pub(crate) use sockc_error;

/// Turns JSON output on for this invocation, with the command's schema.
pub fn enable(schema: &'static str) {
    let _ = SCHEMA.set(schema);
}

/// The schema when `--json` was given.
pub fn enabled() -> Option<&'static str> {
    SCHEMA.get().copied()
}

pub fn record_error(message: &str) {
    *LAST_ERROR.lock().unwrap() = Some(message.to_string());
}

/// Keeps a rule file's diagnostics (as [`sockc_compiler::diag::to_json`] gives them)
/// for the document.
pub fn add_diagnostics(diags: Value) {
    let mut d = DIAGNOSTICS.lock().unwrap();
    let list = d.get_or_insert_with(Vec::new);
    if let Value::Array(items) = diags {
        list.extend(items);
    }
}

fn with_envelope(schema: &str, mut body: Value) -> Value {
    let mut v = json!({ "schema": schema });
    if let Some(d) = DIAGNOSTICS.lock().unwrap().take() {
        v["diagnostics"] = Value::Array(d);
    }
    if let (Value::Object(out), Value::Object(body)) = (&mut v, body.take()) {
        for (k, x) in body {
            out.insert(k, x);
        }
    }
    v
}

/// Prints the command's document (pretty, one per invocation).
pub fn emit(body: Value) {
    let schema = enabled().unwrap_or("sockc/1");
    PRINTED.store(true, Ordering::Relaxed);
    let v = with_envelope(schema, body);
    stdout::raw_line(&serde_json::to_string_pretty(&v).expect("json"));
}

/// Prints one line of a stream of documents (`--watch`, `trace`).
pub fn emit_line(body: Value) {
    let schema = enabled().unwrap_or("sockc/1");
    PRINTED.store(true, Ordering::Relaxed);
    let v = with_envelope(schema, body);
    stdout::raw_line(&serde_json::to_string(&v).expect("json"));
}

/// At exit: a failed command that printed no document prints its failure document.
pub fn finish(exit: u8) {
    let Some(schema) = enabled() else { return };
    if exit == 0 || exit == 4 || PRINTED.load(Ordering::Relaxed) {
        return;
    }
    let message = LAST_ERROR
        .lock()
        .unwrap()
        .take()
        .unwrap_or_else(|| format!("failed (exit {exit}); stderr says why"));
    let v = with_envelope(
        schema,
        json!({ "error": { "message": message, "exit_code": exit } }),
    );
    stdout::raw_line(&serde_json::to_string_pretty(&v).expect("json"));
}
