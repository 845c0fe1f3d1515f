//! Structured log events: one JSON object per line, written through the host log. Callers
//! pass only non-secret fields; tokens, keys and signatures are never handed to this module.

use crate::host::{Host, LogLevel};
use serde_json::{Map, Value};

/// Write one structured event line, e.g. `{"event":"denied","rule":"admin",...}`.
pub fn event(host: &dyn Host, level: LogLevel, event: &str, fields: &[(&str, Value)]) {
    if !host.log_enabled(level) {
        return;
    }
    let mut obj = Map::with_capacity(fields.len() + 1);
    obj.insert("event".to_string(), Value::String(event.to_string()));
    for (k, v) in fields {
        if !v.is_null() {
            obj.insert((*k).to_string(), v.clone());
        }
    }
    host.log(level, &Value::Object(obj).to_string());
}

/// Shorten a credential-like value to a non-reversible hint for logs: its length only.
pub fn redacted(value: &str) -> String {
    format!("<redacted {} bytes>", value.len())
}
