//! The requirement tree with the other credentials as leaves (`service_auth`, `api_key`),
//! through the engine on the in-memory host: alone, in `requires_any`, in `requires_all`,
//! across a JWKS pause, with a signed body, and the config errors.

use super::testkit::*;
use crate::decision::{HeaderMutations, LocalReply, RequestAction};
use crate::engine::{Engine, Stream};
use crate::host::memory::MemoryHost;
use crate::request::{ConnectionInfo, RequestView};
use crate::service_auth::{make_service_token, sign_request, SignSpec, SigningKey};
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const TOKEN_SECRET: &[u8] = b"billing-service-secret-0123456789";
const SIG_SECRET: &[u8] = b"calendar-signing-secret-0123456789";
/// SHA-256 of `eg_live_ci_0001` (as in `filter/tests/api_keys.rs`).
const CI_KEY: &str = "eg_live_ci_0001";
const CI_HASH: &str = "4081f8ed5105bfb806af6f7c3e61f9be1182f867199d61c1e85ef8aad46e9966";

fn b64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn provider() -> Value {
    json!({
        "issuer": "https://idp.example.com",
        "local_jwks": {"inline_string": jwks_json().to_string()},
        "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}]
    })
}

fn sections(providers: Value, replay: bool) -> Value {
    json!({
        "jwt_authn": {"providers": providers},
        "service_auth": {
            "service_name": "email-router",
            "keys": {"calendar-key": {"alg": "hmac-sha256", "service_id": "calendar",
                     "secrets": [{"value": b64_std(SIG_SECRET), "encoding": "base64"}]}},
            "service_tokens": {"replay_protection": replay,
                               "services": {"billing": {"secrets": [
                                   String::from_utf8_lossy(TOKEN_SECRET)]}}}
        },
        "api_keys": {"keys": [{"name": "ci-bot", "hash": CI_HASH,
                               "permissions": ["messages:read"]}]}
    })
}

fn config(rules: Value) -> String {
    let mut c = sections(json!({"users": provider()}), false);
    c["rules"] = rules;
    c.to_string()
}

fn engine(cfg: &str) -> Engine {
    Engine::from_json(cfg.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestView {
    RequestView::new(
        method,
        "https",
        "api.example.com",
        path,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ConnectionInfo::default(),
    )
    .unwrap()
}

fn user_token() -> String {
    let claims = json!({"iss": "https://idp.example.com", "sub": "user-1",
                        "iat": NOW - 10, "exp": NOW + 900});
    format!("Bearer {}", sign_std("HS256", &claims))
}

fn service_token() -> String {
    make_service_token(
        "billing",
        "email-router",
        "2027-01-15T08:00:00.123456",
        TOKEN_SECRET,
    )
}

/// The clock at NOW = 2027-01-15T08:00:00Z, the service token's timestamp.
fn host() -> MemoryHost {
    MemoryHost::at(NOW)
}

fn headers_upstream(a: RequestAction) -> HeaderMutations {
    match a {
        RequestAction::Continue(m) => m,
        other => panic!("expected Continue, got {other:?}"),
    }
}

fn reply(a: RequestAction) -> LocalReply {
    match a {
        RequestAction::Respond(r) => r,
        other => panic!("expected a local reply, got {other:?}"),
    }
}

fn set<'a>(m: &'a HeaderMutations, name: &str) -> Option<&'a str> {
    m.set
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn any_of_three() -> String {
    config(json!([{"name": "either", "match": {"prefix": "/"},
        "requires": {"requires_any": {"requirements": [
            {"provider_name": "users"}, {"service_auth": {}}, {"api_key": {}}]}}}]))
}

#[test]
fn requires_any_accepts_each_credential_and_records_who() {
    let e = engine(&any_of_three());
    let h = host();
    let m = headers_upstream(e.on_request_headers(
        &mut Stream::default(),
        request("GET", "/x", &[("authorization", &user_token())]),
        &h,
    ));
    assert_eq!(set(&m, "x-user-id"), Some("user-1"));
    assert_eq!(set(&m, "x-service-id"), None);

    let mut s = Stream::default();
    let m = headers_upstream(e.on_request_headers(
        &mut s,
        request(
            "GET",
            "/x",
            &[
                ("x-service-token", &service_token()),
                ("x-service-id", "forged"),
            ],
        ),
        &h,
    ));
    assert_eq!(set(&m, "x-service-id"), Some("billing"));
    assert!(
        m.remove.iter().any(|r| r == "x-service-id"),
        "forged copy stripped"
    );
    assert_eq!(s.identity.service_id.as_deref(), Some("billing"));

    let mut s = Stream::default();
    let m = headers_upstream(e.on_request_headers(
        &mut s,
        request("GET", "/x", &[("x-api-key", CI_KEY)]),
        &h,
    ));
    assert_eq!(set(&m, "x-api-key-name"), Some("ci-bot"));
    assert_eq!(s.identity.permissions, vec!["messages:read".to_string()]);
    assert_eq!(h.metric("edgeguard_api_key_accepted_total"), 1);
}

#[test]
fn requires_any_with_nothing_is_jwt_missing_and_a_bad_credential_decides() {
    let e = engine(&any_of_three());
    let h = host();
    let r = reply(e.on_request_headers(&mut Stream::default(), request("GET", "/x", &[]), &h));
    assert_eq!(r.status, 401);
    assert_eq!(r.body, b"Jwt is missing");
    assert!(r.headers.iter().any(|(k, _)| k == "www-authenticate"));

    let mut bad = service_token();
    let last = bad.pop();
    bad.push(if last == Some('0') { '1' } else { '0' });
    let r = reply(e.on_request_headers(
        &mut Stream::default(),
        request("GET", "/x", &[("x-service-token", &bad)]),
        &h,
    ));
    assert_eq!(r.status, 401);
    assert_eq!(r.reason, "service_token_bad_signature");
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(!text.contains(&bad), "no credential in the reply: {text}");

    let r = reply(e.on_request_headers(
        &mut Stream::default(),
        request("GET", "/x", &[("x-api-key", "eg_live_nope")]),
        &h,
    ));
    assert_eq!((r.status, r.reason), (401, "api_key_unknown"));
    assert_eq!(
        h.metric("edgeguard_api_key_rejected_api_key_unknown_total"),
        1
    );
}

#[test]
fn requires_all_needs_the_service_credential_and_the_user_token() {
    let e = engine(&config(json!([{"name": "both", "match": {"prefix": "/"},
        "requires": {"requires_all": {"requirements": [
            {"service_auth": {"kinds": ["service_token"]}}, {"provider_name": "users"}]}}}])));
    let h = host();
    let token = service_token();
    let m = headers_upstream(e.on_request_headers(
        &mut Stream::default(),
        request(
            "GET",
            "/x",
            &[
                ("x-service-token", &token),
                ("authorization", &user_token()),
            ],
        ),
        &h,
    ));
    assert_eq!(set(&m, "x-service-id"), Some("billing"));
    assert_eq!(set(&m, "x-user-id"), Some("user-1"));

    let r = reply(e.on_request_headers(
        &mut Stream::default(),
        request("GET", "/x", &[("x-service-token", &token)]),
        &h,
    ));
    assert_eq!((r.status, r.body.as_slice()), (401, &b"Jwt is missing"[..]));

    let r = reply(e.on_request_headers(
        &mut Stream::default(),
        request("GET", "/x", &[("authorization", &user_token())]),
        &h,
    ));
    assert_eq!((r.status, r.reason), (401, "service_auth_missing"));
}

#[test]
fn service_leaf_alone_needs_no_jwt_authn_section_and_checks_allowed_services() {
    let mut c = sections(json!({}), false);
    c.as_object_mut().map(|o| o.remove("jwt_authn"));
    c["rules"] = json!([{"name": "svc", "match": {"prefix": "/"},
        "requires": {"service_auth": {"allowed_services": ["calendar"]}}}]);
    let e = engine(&c.to_string());
    let r = reply(e.on_request_headers(
        &mut Stream::default(),
        request("GET", "/x", &[("x-service-token", &service_token())]),
        &host(),
    ));
    assert_eq!((r.status, r.reason), (403, "service_not_allowed"));
}

#[test]
fn a_leaf_is_verified_once_across_a_jwks_pause_so_replay_protection_holds() {
    let remote = json!({"issuer": "https://idp.example.com",
        "remote_jwks": {"http_uri": {"uri": "https://idp.example.com/jwks", "cluster": "idp",
                                     "timeout": "2s"}, "cache_duration": "300s"}});
    let mut c = sections(json!({"users": remote}), true);
    c["rules"] = json!([{"name": "both", "match": {"prefix": "/"},
        "requires": {"requires_all": {"requirements": [
            {"service_auth": {}}, {"provider_name": "users"}]}}}]);
    let e = engine(&c.to_string());
    let h = host();
    let claims = json!({"iss": "https://idp.example.com", "sub": "user-2",
                        "iat": NOW - 10, "exp": NOW + 900});
    let jwt = format!("Bearer {}", sign_std("RS256", &claims));
    let token = service_token();
    let mut s = Stream::default();
    let a = e.on_request_headers(
        &mut s,
        request(
            "GET",
            "/x",
            &[("x-service-token", &token), ("authorization", &jwt)],
        ),
        &h,
    );
    assert_eq!(a, RequestAction::Pause);
    let keys = jwks_json().to_string();
    assert!(e.on_http_call_response(1, 200, &[], keys.as_bytes(), &h));
    let m = headers_upstream(e.resume(&mut s, &h));
    assert_eq!(set(&m, "x-service-id"), Some("billing"));
    assert_eq!(
        set(&m, "x-user-id"),
        None,
        "no claim_to_headers on this provider"
    );

    // The same service token again is a replay.
    let r = reply(e.on_request_headers(
        &mut Stream::default(),
        request(
            "GET",
            "/x",
            &[("x-service-token", &token), ("authorization", &jwt)],
        ),
        &h,
    ));
    assert_eq!((r.status, r.reason), (401, "service_auth_replayed"));
}

#[test]
fn a_signed_body_is_compared_after_the_tree_passed() {
    let e = engine(&config(json!([{"name": "either", "match": {"prefix": "/"},
        "requires": {"requires_any": {"requirements": [
            {"provider_name": "users"}, {"service_auth": {"kinds": ["message_signature"]}}]}}}])));
    let body = br#"{"to":"ops@example.com"}"#;
    let unsigned = request(
        "POST",
        "/send",
        &[
            ("content-type", "application/json"),
            ("content-length", "24"),
        ],
    );
    let signed = |nonce: &str| {
        let spec = SignSpec {
            label: "sig1".into(),
            keyid: "calendar-key".into(),
            key: SigningKey::HmacSha256(SIG_SECRET.to_vec()),
            components: ["@method", "@authority", "@path", "content-digest"]
                .map(String::from)
                .to_vec(),
            created: Some(NOW as i64),
            expires: None,
            nonce: Some(nonce.into()),
            tag: None,
            include_alg: false,
        };
        let mut headers: Vec<(String, String)> = unsigned.headers.clone();
        headers.extend(sign_request(&unsigned, Some(body), &spec).unwrap());
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        request("POST", "/send", &pairs)
    };
    let h = host();
    let mut s = Stream::default();
    assert_eq!(
        e.on_request_headers(&mut s, signed("n-1"), &h),
        RequestAction::NeedBody
    );
    let early = e.take_request_mutations(&mut s);
    assert_eq!(set(&early, "x-service-id"), Some("calendar"));
    assert!(matches!(
        e.on_request_body(&mut s, body, true, &h),
        RequestAction::Continue(_)
    ));

    let mut s = Stream::default();
    assert_eq!(
        e.on_request_headers(&mut s, signed("n-2"), &h),
        RequestAction::NeedBody
    );
    let r = reply(e.on_request_body(&mut s, br#"{"to":"evil@example.com"}"#, true, &h));
    assert_eq!(
        (r.status, r.reason),
        (401, "service_content_digest_invalid")
    );
}

#[test]
fn api_key_leaf_permissions_feed_require_permissions() {
    let e = engine(&config(json!([
        {"name": "tools", "match": {"prefix": "/tools"},
         "requires": {"requires_any": {"requirements": [{"provider_name": "users"}, {"api_key": {}}]}},
         "require_permissions": {"all": ["tool:execute"]}},
        {"name": "read", "match": {"prefix": "/"},
         "requires": {"requires_any": {"requirements": [{"provider_name": "users"}, {"api_key": {}}]}},
         "require_permissions": {"all": ["messages:read"]}}
    ])));
    let h = host();
    assert!(matches!(
        e.on_request_headers(
            &mut Stream::default(),
            request("GET", "/messages", &[("x-api-key", CI_KEY)]),
            &h
        ),
        RequestAction::Continue(_)
    ));
    let r = reply(e.on_request_headers(
        &mut Stream::default(),
        request("GET", "/tools/run", &[("x-api-key", CI_KEY)]),
        &h,
    ));
    assert_eq!(r.status, 403);
}

fn load_error(c: Value) -> String {
    match Engine::from_json(c.to_string().as_bytes()) {
        Ok(_) => panic!("config loaded: {c}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn leaf_config_errors_name_the_path() {
    let rule = |requires: Value| json!([{"match": {"prefix": "/"}, "requires": requires}]);
    let mut no_service = sections(json!({"users": provider()}), false);
    no_service.as_object_mut().map(|o| o.remove("service_auth"));
    no_service["rules"] = rule(json!({"requires_any": {"requirements": [
        {"provider_name": "users"}, {"service_auth": {}}]}}));
    assert_eq!(
        load_error(no_service),
        "config error at rules[0].requires.requires_any.requirements[1].service_auth: \
         a rule requires service auth but there is no service_auth section"
    );

    let mut no_keys = sections(json!({"users": provider()}), false);
    no_keys.as_object_mut().map(|o| o.remove("api_keys"));
    no_keys["rules"] = rule(json!({"requires_all": {"requirements": [{"api_key": {}}]}}));
    assert_eq!(
        load_error(no_keys),
        "config error at rules[0].requires.requires_all.requirements[0].api_key: \
         a requirement names an API key but there is no api_keys section"
    );

    let mut optional = sections(json!({"users": provider()}), false);
    optional["rules"] = rule(json!({"service_auth": {"required": false}}));
    assert!(load_error(optional)
        .starts_with("config error at rules[0].requires.service_auth.required: not allowed"));

    let mut two = sections(json!({"users": provider()}), false);
    two["rules"] = rule(json!({"service_auth": {}, "api_key": {}}));
    assert!(load_error(two).contains("exactly one of provider_name"));

    let mut jwt_without_section = sections(json!({}), false);
    jwt_without_section
        .as_object_mut()
        .map(|o| o.remove("jwt_authn"));
    jwt_without_section["rules"] = rule(json!({"requires_any": {"requirements": [
        {"provider_name": "users"}, {"api_key": {}}]}}));
    assert_eq!(
        load_error(jwt_without_section),
        "config error at rules[0].requires: needs a jwt_authn section with providers"
    );

    let mut both_places = sections(json!({"users": provider()}), false);
    both_places["rules"] = json!([{"match": {"prefix": "/"},
        "requires": {"service_auth": {}}, "service_auth": {}}]);
    assert_eq!(
        load_error(both_places),
        "config error at rules[0].service_auth: set service_auth either here or as a leaf of \
         requires, not both"
    );
}

#[test]
fn jwt_authn_rules_may_use_the_leaves_too() {
    let mut c = sections(json!({"users": provider()}), false);
    c["jwt_authn"]["rules"] = json!([{"match": {"prefix": "/internal/"},
        "requires": {"requires_any": {"requirements": [
            {"service_auth": {}}, {"api_key": {}}]}}}]);
    let e = engine(&c.to_string());
    let h = host();
    let m = headers_upstream(e.on_request_headers(
        &mut Stream::default(),
        request(
            "GET",
            "/internal/sync",
            &[("x-service-token", &service_token())],
        ),
        &h,
    ));
    assert_eq!(set(&m, "x-service-id"), Some("billing"));
    let r = reply(e.on_request_headers(
        &mut Stream::default(),
        request("GET", "/internal/sync", &[]),
        &h,
    ));
    assert_eq!((r.status, r.reason), (401, "service_auth_missing"));
}
