//! Bad configs are refused with the JSON path of the problem and the reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::config::Config;

fn err(json: &str) -> String {
    match Config::from_json(json.as_bytes()) {
        Ok(_) => panic!("config unexpectedly accepted: {json}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn rule_prefix_must_be_absolute() {
    assert_eq!(
        err(
            r#"{"rules":[{"match":{"prefix":"/"}},{"match":{"prefix":"/a"}},{"match":{"prefix":"api"}}]}"#
        ),
        r#"config error at rules[2].match.prefix: must start with "/""#
    );
}

#[test]
fn unknown_fields_are_named_with_their_path() {
    let e = err(r#"{"rules":[{"match":{"prefix":"/","method":["GET"]}}]}"#);
    assert!(
        e.starts_with("config error at rules[0].match.method: unknown field `method`"),
        "{e}"
    );
    let e = err(r#"{"mod":"report"}"#);
    assert!(
        e.starts_with("config error at mod: unknown field `mod`"),
        "{e}"
    );
}

#[test]
fn wrong_types_and_values_are_named() {
    let e = err(r#"{"mode":"audit"}"#);
    assert!(
        e.starts_with("config error at mode: unknown variant `audit`"),
        "{e}"
    );
    let e = err(r#"{"rules":[{"match":{"path":5}}]}"#);
    assert!(
        e.starts_with("config error at rules[0].match.path: invalid type"),
        "{e}"
    );
    let e = err(r#"{"rules":[{"match":{"regex":"(unclosed"}}]}"#);
    assert!(
        e.starts_with("config error at rules[0].match.regex: invalid regex"),
        "{e}"
    );
    let e = err(r#"{"rules":[{"match":{"prefix":"/","path":"/x"}}]}"#);
    assert_eq!(
        e,
        "config error at rules[0].match: exactly one of prefix, path or regex is required"
    );
    let e = err(r#"{"rules":[{"match":{"prefix":"/","methods":["get"]}}]}"#);
    assert_eq!(
        e,
        "config error at rules[0].match.methods[0]: must be an uppercase method token such as GET"
    );
}

#[test]
fn syntax_errors_say_where() {
    let e = err(r#"{"rules": [}"#);
    assert!(e.contains("config error"), "{e}");
    assert!(e.contains("line 1"), "{e}");
    let e = err("");
    assert!(e.contains("config error"), "{e}");
}

#[test]
fn empty_config_is_valid() {
    let c = Config::from_json(b"{}").unwrap();
    assert!(c.rules.is_empty());
}

/// The committed `config.schema.json` must match the types. Regenerate with
/// `EDGEGUARD_UPDATE_SCHEMA=1 cargo test -p edgeguard --test config_errors`.
#[test]
fn committed_json_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.schema.json");
    let generated = serde_json::to_string_pretty(&Config::json_schema()).unwrap() + "\n";
    if std::env::var_os("EDGEGUARD_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "config.schema.json is stale: run EDGEGUARD_UPDATE_SCHEMA=1 cargo test -p edgeguard --test config_errors"
    );
}
