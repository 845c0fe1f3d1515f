//! The README's configuration reference names every key of the generated JSON Schema, so a new
//! config field cannot ship undocumented.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::config::Config;
use serde_json::Value;
use std::collections::BTreeSet;

fn collect_keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            for child in map.values() {
                collect_keys(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_keys(i, out)),
        _ => {}
    }
}

#[test]
fn readme_reference_names_every_config_key() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("## Configuration reference")
        .expect("README has a configuration reference");
    let end = readme[start..]
        .find("\n## Where things live")
        .map(|i| start + i)
        .unwrap_or(readme.len());
    let reference = &readme[start..end];
    let mut keys = BTreeSet::new();
    collect_keys(&Config::json_schema(), &mut keys);
    assert!(keys.len() > 50, "schema walk found too few keys: {keys:?}");
    let words: BTreeSet<&str> = reference
        .split(|c: char| {
            !(c.is_ascii_alphanumeric()
                || c == '_'
                || c == '$'
                || c == '.'
                || c == '['
                || c == ']'
                || c == '*'
                || c == '\'')
        })
        .flat_map(|w| w.split('.'))
        .collect();
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !words.contains(k.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README configuration reference does not mention: {missing:?}"
    );
}
