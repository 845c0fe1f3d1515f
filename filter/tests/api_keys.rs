//! API keys through the engine: hashed config, header and Authorization forms, distinct
//! reasons with one 401, identity and permissions, upstream headers, config errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use edgeguard::api_key::hash::hash_key;
use edgeguard::config::Config;
use edgeguard::host::memory::MemoryHost;

// Digests from `printf %s <key> | sha256sum`.
const CI_KEY: &str = "eg_live_ci_0001";
const CI_HASH: &str = "4081f8ed5105bfb806af6f7c3e61f9be1182f867199d61c1e85ef8aad46e9966";
const OLD_KEY: &str = "eg_live_old_0002";
const OLD_HASH: &str = "916009b84347516b5fee7badea3098821610c5b0e8d827df4300b1d294b86eb7";
const OFF_KEY: &str = "eg_live_off_0003";
const OFF_HASH: &str = "d95ea8d574795b9eceeaa5b87e77fd88bc810430e83aa9be977839937540a55b";

fn config(extra_section: &str, rule_key: &str) -> String {
    format!(
        r#"{{
        "api_keys": {{
            {extra_section}
            "keys": [
                {{"name": "ci-bot", "hash": "{CI_HASH}", "permissions": ["messages:read", "tool:execute"]}},
                {{"name": "old-integration", "hash": "{OLD_HASH}", "expires_at": "2026-01-01T00:00:00Z"}},
                {{"name": "paused", "hash": "{OFF_HASH}", "enabled": false}}
            ]
        }},
        "rules": [
            {{"name": "api", "match": {{"prefix": "/api/"}}, "api_key": {rule_key}}},
            {{"name": "rest", "match": {{"prefix": "/"}}}}
        ]}}"#
    )
}

fn required() -> String {
    config("", r#"{"required": true}"#)
}

#[test]
fn valid_key_sets_identity_and_upstream_headers() {
    let e = engine(&required());
    let host = MemoryHost::at(NOW - 10);
    let (a, s) = run(
        &e,
        &host,
        req(
            "GET",
            "/api/messages",
            &[("x-api-key", CI_KEY), ("x-api-key-name", "admin-forged")],
        ),
    );
    let m = expect_continue(a);
    assert_eq!(header(&m, "x-api-key-name"), Some("ci-bot"));
    assert!(m.remove.iter().any(|h| h == "x-api-key-name"), "{m:?}");
    assert!(
        m.remove.iter().any(|h| h == "x-api-key"),
        "key must not go upstream"
    );
    assert_eq!(s.identity.api_key_name.as_deref(), Some("ci-bot"));
    assert_eq!(
        s.identity.permissions,
        vec!["messages:read", "tool:execute"]
    );
    assert_eq!(host.metric("edgeguard_api_key_accepted_total"), 1);
    // Applying the mutations: the forged name is replaced, the key is gone.
    let mut headers = vec![
        ("x-api-key".to_string(), CI_KEY.to_string()),
        ("x-api-key-name".to_string(), "admin-forged".to_string()),
    ];
    m.apply_to(&mut headers);
    assert_eq!(
        headers,
        vec![("x-api-key-name".to_string(), "ci-bot".to_string())]
    );
}

#[test]
fn refused_keys_get_one_identical_401_but_distinct_reasons() {
    let e = engine(&required());
    let host = MemoryHost::at(NOW);
    let mut replies = Vec::new();
    for key in ["eg_live_nope", OLD_KEY, OFF_KEY] {
        let (a, _) = run(&e, &host, req("GET", "/api/x", &[("x-api-key", key)]));
        replies.push(expect_reply(a));
    }
    let reasons: Vec<_> = replies.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        ["api_key_unknown", "api_key_expired", "api_key_disabled"]
    );
    for r in &replies {
        assert_eq!(r.status, 401);
        assert_eq!(r.headers, replies[0].headers);
        assert_eq!(r.body, replies[0].body);
    }
    assert_eq!(
        body_json(&replies[0]),
        serde_json::json!({"error": "invalid API key", "status": 401})
    );
    for reason in ["api_key_unknown", "api_key_expired", "api_key_disabled"] {
        assert_eq!(
            host.metric(&format!("edgeguard_api_key_rejected_{reason}_total")),
            1
        );
        assert_eq!(host.metric(&format!("edgeguard_denied_{reason}_total")), 1);
    }
    let rejected = events(&host, "api_key_rejected");
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0]["reason"], "api_key_unknown");
    assert!(rejected[0].get("key_name").is_none());
    assert_eq!(rejected[1]["key_name"], "old-integration");
    assert_eq!(rejected[2]["key_name"], "paused");
    let all = host.log_text();
    for secret in ["eg_live_nope", OLD_KEY, OFF_KEY, OLD_HASH, OFF_HASH] {
        assert!(!all.contains(secret), "log leaks {secret}");
    }
}

#[test]
fn expiry_follows_the_host_clock() {
    let e = engine(&required());
    // expires_at 2026-01-01T00:00:00Z == NOW.
    let host = MemoryHost::at(NOW - 1);
    let (a, _) = run(&e, &host, req("GET", "/api/x", &[("x-api-key", OLD_KEY)]));
    assert_eq!(
        header(&expect_continue(a), "x-api-key-name"),
        Some("old-integration")
    );
    host.advance_secs(1);
    let (a, _) = run(&e, &host, req("GET", "/api/x", &[("x-api-key", OLD_KEY)]));
    assert_eq!(expect_reply(a).reason, "api_key_expired");
}

#[test]
fn missing_key_is_a_401_only_when_required() {
    let e = engine(&required());
    let host = MemoryHost::at(NOW);
    let (a, _) = run(&e, &host, req("GET", "/api/x", &[]));
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (401, "api_key_missing"));
    assert_eq!(body_json(&r)["error"], "API key required");

    let e = engine(&config("", "{}"));
    let (a, s) = run(&e, &host, req("GET", "/api/x", &[]));
    expect_continue(a);
    assert_eq!(s.identity.api_key_name, None);
    // Optional, but a presented key is still verified.
    let (a, _) = run(&e, &host, req("GET", "/api/x", &[("x-api-key", "wrong")]));
    assert_eq!(expect_reply(a).reason, "api_key_unknown");
}

#[test]
fn two_keys_are_ambiguous() {
    let e = engine(&config(
        r#""authorization_scheme": "ApiKey","#,
        r#"{"required": true}"#,
    ));
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        req(
            "GET",
            "/api/x",
            &[
                ("x-api-key", CI_KEY),
                ("authorization", &format!("ApiKey {CI_KEY}")),
            ],
        ),
    );
    assert_eq!(expect_reply(a).reason, "api_key_ambiguous");
    let (a, _) = run(
        &e,
        &host,
        req(
            "GET",
            "/api/x",
            &[("x-api-key", CI_KEY), ("x-api-key", CI_KEY)],
        ),
    );
    assert_eq!(expect_reply(a).reason, "api_key_ambiguous");
}

#[test]
fn authorization_scheme_only_when_configured_and_header_name_configurable() {
    let host = MemoryHost::at(NOW);
    let e = engine(&config(
        r#""header": "X-Service-Key", "authorization_scheme": "ApiKey","#,
        r#"{"required": true}"#,
    ));
    let (a, _) = run(
        &e,
        &host,
        req(
            "GET",
            "/api/x",
            &[("authorization", &format!("apikey  {CI_KEY}"))],
        ),
    );
    let m = expect_continue(a);
    assert_eq!(header(&m, "x-api-key-name"), Some("ci-bot"));
    assert!(m.remove.iter().any(|h| h == "authorization"));
    let (a, _) = run(
        &e,
        &host,
        req("GET", "/api/x", &[("X-Service-Key", CI_KEY)]),
    );
    let m = expect_continue(a);
    assert!(m.remove.iter().any(|h| h == "x-service-key"));
    assert!(!m.remove.iter().any(|h| h == "authorization"));
    // The default header is not read when another is configured.
    let (a, _) = run(&e, &host, req("GET", "/api/x", &[("x-api-key", CI_KEY)]));
    assert_eq!(expect_reply(a).reason, "api_key_missing");
    // A bearer token is not an API key.
    let (a, _) = run(
        &e,
        &host,
        req(
            "GET",
            "/api/x",
            &[("authorization", &format!("Bearer {CI_KEY}"))],
        ),
    );
    assert_eq!(expect_reply(a).reason, "api_key_missing");

    let e = engine(&required());
    let (a, _) = run(
        &e,
        &host,
        req(
            "GET",
            "/api/x",
            &[("authorization", &format!("ApiKey {CI_KEY}"))],
        ),
    );
    assert_eq!(expect_reply(a).reason, "api_key_missing");
}

#[test]
fn forward_key_keeps_the_key_header() {
    let e = engine(&config(r#""forward_key": true,"#, r#"{"required": true}"#));
    let host = MemoryHost::at(NOW);
    let (a, _) = run(&e, &host, req("GET", "/api/x", &[("x-api-key", CI_KEY)]));
    let m = expect_continue(a);
    assert!(!m.remove.iter().any(|h| h == "x-api-key"));
}

#[test]
fn incoming_identity_headers_are_stripped_on_every_rule() {
    let e = engine(&required());
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        req(
            "GET",
            "/public",
            &[
                ("x-api-key-name", "ci-bot"),
                ("x-peer-identity", "spiffe://x"),
            ],
        ),
    );
    let m = expect_continue(a);
    assert!(m.remove.iter().any(|h| h == "x-api-key-name"));
    assert!(m.remove.iter().any(|h| h == "x-peer-identity"));
    assert!(m.set.is_empty());
    // Also when no rule matches at all.
    let e = engine("{}");
    let (a, _) = run(&e, &host, req("GET", "/x", &[("x-api-key-name", "ci-bot")]));
    assert!(expect_continue(a)
        .remove
        .iter()
        .any(|h| h == "x-api-key-name"));
}

#[test]
fn peppered_keys_use_hmac_with_the_pepper_from_the_environment() {
    // `printf %s eg_live_ci_0001 | openssl dgst -sha256 -hmac pepper-for-tests`
    const PEPPERED: &str = "007cd220002da90b9767f13a5c8930a1e37277c5644ace498486bbefd572829b";
    std::env::set_var("EDGEGUARD_TEST_PEPPER_OK", "pepper-for-tests");
    assert_eq!(hash_key(CI_KEY, Some(b"pepper-for-tests")), PEPPERED);
    let json = format!(
        r#"{{"api_keys": {{"hash": "hmac_sha256", "pepper": {{"env": "EDGEGUARD_TEST_PEPPER_OK"}},
             "keys": [{{"name": "ci-bot", "hash": "{PEPPERED}"}}]}},
            "rules": [{{"match": {{"prefix": "/"}}, "api_key": {{"required": true}}}}]}}"#
    );
    let e = engine(&json);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(&e, &host, req("GET", "/x", &[("x-api-key", CI_KEY)]));
    assert_eq!(
        header(&expect_continue(a), "x-api-key-name"),
        Some("ci-bot")
    );
    // The unpeppered digest of the same key is not accepted.
    let plain = json.replace(PEPPERED, CI_HASH);
    let e = engine(&plain);
    let (a, _) = run(&e, &host, req("GET", "/x", &[("x-api-key", CI_KEY)]));
    assert_eq!(expect_reply(a).reason, "api_key_unknown");

    let missing = json.replace("EDGEGUARD_TEST_PEPPER_OK", "EDGEGUARD_TEST_PEPPER_UNSET_91");
    let err = edgeguard::engine::Engine::from_json(missing.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error at api_keys.pepper.env: environment variable EDGEGUARD_TEST_PEPPER_UNSET_91 is not set"
    );
}

#[test]
fn config_errors_name_the_path() {
    let cases = [
        (
            r#"{"api_keys": {"keys": [{"name": "a", "hash": "eg_live_ci_0001"}]}}"#,
            "config error at api_keys.keys[0].hash: must be 64 hex digits (the output of `edgeguard hash-key`), never the key itself",
        ),
        (
            &format!(r#"{{"api_keys": {{"keys": [{{"name": "a", "hash": "{CI_HASH}"}}, {{"name": "a", "hash": "{OLD_HASH}"}}]}}}}"#),
            "config error at api_keys.keys[1].name: duplicate key name \"a\"",
        ),
        (
            &format!(r#"{{"api_keys": {{"keys": [{{"name": "a", "hash": "{CI_HASH}"}}, {{"name": "b", "hash": "{}"}}]}}}}"#, CI_HASH.to_uppercase()),
            "config error at api_keys.keys[1].hash: the same key digest is configured twice",
        ),
        (
            &format!(r#"{{"api_keys": {{"keys": [{{"name": "a", "hash": "{CI_HASH}", "expires_at": "2026-02-30T00:00:00Z"}}]}}}}"#),
            "config error at api_keys.keys[0].expires_at: day out of range",
        ),
        (
            &format!(r#"{{"api_keys": {{"keys": [{{"name": "a b", "hash": "{CI_HASH}"}}]}}}}"#),
            "config error at api_keys.keys[0].name: must be non-empty visible ASCII without spaces (it is sent in a header)",
        ),
        (
            r#"{"api_keys": {"hash": "hmac_sha256", "keys": []}}"#,
            "config error at api_keys.pepper: hmac_sha256 needs a pepper: {\"env\": \"NAME\"}",
        ),
        (
            r#"{"api_keys": {"pepper": {"env": "X"}, "keys": []}}"#,
            "config error at api_keys.pepper: a pepper is only used with \"hash\": \"hmac_sha256\"",
        ),
        (
            r#"{"api_keys": {"header": "Authorization", "keys": []}}"#,
            "config error at api_keys.header: \"authorization\" cannot carry API keys (use authorization_scheme for Authorization)",
        ),
        (
            r#"{"api_keys": {"authorization_scheme": "Bearer", "keys": []}}"#,
            "config error at api_keys.authorization_scheme: must be an auth scheme name other than Bearer, e.g. \"ApiKey\"",
        ),
        (
            r#"{"rules": [{"match": {"prefix": "/"}, "api_key": {"required": true}}]}"#,
            "config error at rules[0].api_key: there is no api_keys section",
        ),
    ];
    for (json, want) in cases {
        let err = Config::from_json(json.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), want, "{json}");
    }
    // Unknown fields are refused with their path.
    let err = Config::from_json(br#"{"api_keys": {"keys": [], "key": "x"}}"#).unwrap_err();
    assert_eq!(err.path, "api_keys.key");
    assert!(err.reason.contains("unknown field `key`"), "{}", err.reason);
}

#[test]
fn verify_is_usable_outside_the_stage() {
    use edgeguard::api_key::{ApiKeyFailure, ApiKeys};
    use edgeguard::decision::HeaderMutations;
    use edgeguard::engine::{Identity, RequestContext};
    let config = Config::from_json(required().as_bytes()).unwrap();
    let keys = ApiKeys::compile(&config).unwrap().unwrap();
    let host = MemoryHost::at(NOW);
    let view = req("GET", "/api/x", &[("x-api-key", OFF_KEY)]);
    let mut identity = Identity::default();
    let mut upstream = HeaderMutations::default();
    let ctx = RequestContext {
        req: &view,
        rule: Some(0),
        rule_name: "api",
        host: &host,
        client_ip: None,
        identity: &mut identity,
        upstream: &mut upstream,
        body: None,
    };
    assert_eq!(
        keys.verify(&ctx),
        Err(ApiKeyFailure::Disabled {
            name: "paused".into()
        })
    );
    assert!(
        !format!("{keys:?}").contains(OFF_HASH),
        "Debug must not print digests"
    );
}
