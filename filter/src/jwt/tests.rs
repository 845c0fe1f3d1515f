//! Behaviour tests of the JWT stage through the engine, on the in-memory host.

use super::testkit::*;
use crate::decision::RequestAction;
use crate::engine::{Engine, Stream};
use crate::host::memory::MemoryHost;
use crate::request::{ConnectionInfo, RequestView};
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;

fn config(extra_provider: Value, extra_section: Value, rules: Value) -> String {
    let mut provider = json!({
        "issuer": "https://idp.example.com",
        "audiences": ["api"],
        "local_jwks": {"inline_string": jwks_json().to_string()},
        "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"},
                             {"header_name": "x-org", "claim_name": "org.id"}],
        "forward_payload_header": "x-jwt-payload"
    });
    merge(&mut provider, extra_provider);
    let mut section = json!({
        "providers": {"idp": provider},
        "rules": [{"match": {"prefix": "/public"}},
                  {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]
    });
    merge(&mut section, extra_section);
    json!({"jwt_authn": section, "rules": rules}).to_string()
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

fn engine(cfg: &str) -> Engine {
    Engine::from_json(cfg.as_bytes()).unwrap()
}

fn request(path: &str, headers: &[(&str, &str)]) -> RequestView {
    RequestView::new(
        "GET",
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

fn claims() -> Value {
    json!({"iss": "https://idp.example.com", "aud": "api", "sub": "user-1",
           "iat": NOW - 10, "exp": NOW + 900, "type": "access", "jti": "j1",
           "org": {"id": 42}, "permissions": ["messages:read"]})
}

fn with(mut c: Value, extra: Value) -> Value {
    merge(&mut c, extra);
    c
}

fn run(
    e: &Engine,
    host: &MemoryHost,
    path: &str,
    headers: &[(&str, &str)],
) -> (RequestAction, Stream) {
    let mut s = Stream::default();
    let a = e.on_request_headers(&mut s, request(path, headers), host);
    (a, s)
}

fn bearer(e: &Engine, host: &MemoryHost, token: &str) -> RequestAction {
    let h = format!("Bearer {token}");
    run(e, host, "/api/x?q=1", &[("authorization", &h)]).0
}

/// (status, body, www-authenticate) of a local reply.
fn denied(a: &RequestAction) -> (u16, String, Option<String>) {
    match a {
        RequestAction::Respond(r) => (
            r.status,
            String::from_utf8_lossy(&r.body).to_string(),
            r.headers
                .iter()
                .find(|(k, _)| k == "www-authenticate")
                .map(|(_, v)| v.clone()),
        ),
        other => panic!("expected a local reply, got {other:?}"),
    }
}

fn body_of(e: &Engine, host: &MemoryHost, token: &str) -> String {
    denied(&bearer(e, host, token)).1
}

#[test]
fn every_algorithm_verifies_and_sets_headers() {
    let e = engine(&config(json!({}), json!({}), json!([])));
    let host = MemoryHost::at(NOW);
    for alg in ALGS {
        let token = sign_std(alg, &claims());
        let (a, s) = run(
            &e,
            &host,
            "/api",
            &[
                ("authorization", &format!("Bearer {token}")),
                ("x-user-id", "forged"),
            ],
        );
        let RequestAction::Continue(m) = a else {
            panic!("{alg}: {a:?}");
        };
        assert!(
            m.remove.contains(&"x-user-id".to_string()),
            "incoming copy stripped"
        );
        assert!(
            m.remove.contains(&"authorization".to_string()),
            "token not forwarded"
        );
        assert!(
            m.set.contains(&("x-user-id".into(), "user-1".into())),
            "{alg}"
        );
        assert!(m.set.contains(&("x-org".into(), "42".into())));
        let payload = token.split('.').nth(1).unwrap().to_string();
        assert!(m.set.contains(&("x-jwt-payload".into(), payload)));
        assert_eq!(s.identity.subject.as_deref(), Some("user-1"));
        assert_eq!(s.identity.jwt_claims[0].0, "idp");
        assert_eq!(s.identity.permissions, vec!["messages:read".to_string()]);
    }
}

#[test]
fn missing_and_invalid_tokens_get_envoys_replies() {
    let e = engine(&config(json!({}), json!({}), json!([])));
    let host = MemoryHost::at(NOW);
    let (a, _) = run(&e, &host, "/api/x?q=1", &[]);
    assert_eq!(
        denied(&a),
        (
            401,
            "Jwt is missing".into(),
            Some("Bearer realm=\"https://api.example.com/api/x?q=1\"".into())
        )
    );
    let (a, _) = run(&e, &host, "/public/x", &[]);
    assert!(
        matches!(a, RequestAction::Continue(_)),
        "rule without requires"
    );
    let expired = sign_std("RS256", &with(claims(), json!({"exp": NOW - 61})));
    assert_eq!(
        denied(&bearer(&e, &host, &expired)),
        (
            401,
            "Jwt is expired".into(),
            Some(
                "Bearer realm=\"https://api.example.com/api/x?q=1\", error=\"invalid_token\""
                    .into()
            )
        )
    );
    let at_skew = sign_std("HS256", &with(claims(), json!({"exp": NOW - 60})));
    assert!(matches!(
        bearer(&e, &host, &at_skew),
        RequestAction::Continue(_)
    ));
    let nbf = sign_std("ES256", &with(claims(), json!({"nbf": NOW + 61})));
    assert_eq!(body_of(&e, &host, &nbf), "Jwt not yet valid");
    let nbf_skew = sign_std("ES256", &with(claims(), json!({"nbf": NOW + 60})));
    assert!(matches!(
        bearer(&e, &host, &nbf_skew),
        RequestAction::Continue(_)
    ));
    let iss = sign_std("HS256", &with(claims(), json!({"iss": "https://evil"})));
    assert_eq!(body_of(&e, &host, &iss), "Jwt issuer is not configured");
    let aud = sign_std("HS256", &with(claims(), json!({"aud": ["other", "x"]})));
    let (status, body, _) = denied(&bearer(&e, &host, &aud));
    assert_eq!(
        (status, body.as_str()),
        (403, "Audiences in Jwt are not allowed")
    );
    let kid = sign("RS256", Some("nope"), &claims());
    assert_eq!(
        body_of(&e, &host, &kid),
        "Jwks doesn't have key to match kid or alg from Jwt"
    );
    let good = sign_std("RS256", &claims());
    let parts: Vec<&str> = good.split('.').collect();
    let tampered_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(
            serde_json::to_string(&with(claims(), json!({"sub": "admin"})))
                .unwrap()
                .as_bytes()
        ),
        parts[2]
    );
    assert_eq!(
        body_of(&e, &host, &tampered_payload),
        "Jwt verification fails"
    );
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
    let sig: String = sig.into_iter().collect();
    let tampered_sig = format!("{}.{}.{}", parts[0], parts[1], sig);
    assert_eq!(body_of(&e, &host, &tampered_sig), "Jwt verification fails");
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), parts[1]);
    assert_eq!(
        body_of(&e, &host, &none),
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
    );
    let none_sig = format!("{}.{}.c2ln", b64(br#"{"alg":"none"}"#), parts[1]);
    assert_eq!(
        body_of(&e, &host, &none_sig),
        "Jwt header [alg] is not supported"
    );
    assert_eq!(
        body_of(&e, &host, "a.b"),
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
    );
    assert_eq!(
        body_of(&e, &host, "a.e30.c2ln"),
        "Jwt header is an invalid Base64url encoded"
    );
    let bad_json = format!("{}.e30.c2ln", b64(b"{nope"));
    assert_eq!(
        body_of(&e, &host, &bad_json),
        "Jwt header is an invalid JSON"
    );
    let exp_str = hs256_raw(r#"{"alg":"HS256","kid":"hmac"}"#, r#"{"exp":"soon"}"#);
    assert_eq!(
        body_of(&e, &host, &exp_str),
        "Jwt payload [exp] field is not an integer"
    );
    let zero = {
        let t = sign_std("ES256", &claims());
        let p: Vec<&str> = t.split('.').collect();
        format!("{}.{}.{}", p[0], p[1], b64(&[0u8; 64]))
    };
    assert_eq!(body_of(&e, &host, &zero), "Jwt verification fails");
}

#[test]
fn key_confusion_and_alg_pinning_are_refused() {
    let e = engine(&config(json!({}), json!({}), json!([])));
    let host = MemoryHost::at(NOW);
    // HS256 signed with the RSA public key (DER) as the HMAC secret, naming the RSA kid.
    let der = keys().rsa.public_key().to_der().unwrap();
    let header = r#"{"alg":"HS256","kid":"rsa"}"#;
    let payload = serde_json::to_string(&claims()).unwrap();
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let tag = hmac_sha256::HMAC::mac(input.as_bytes(), &der);
    let confused = format!("{input}.{}", b64(&tag));
    assert_eq!(body_of(&e, &host, &confused), "Jwt verification fails");
    // A JWKS pinning alg RS256 has no key for an HS256 token at all.
    let pinned = json!({"keys": [jwks_json()["keys"][1].clone()]});
    let mut pinned_key = pinned["keys"][0].clone();
    pinned_key["alg"] = json!("RS256");
    let cfg = config(
        json!({"local_jwks": {"inline_string": json!({"keys": [pinned_key]}).to_string()}}),
        json!({}),
        json!([]),
    );
    let e = engine(&cfg);
    assert_eq!(
        body_of(&e, &host, &confused),
        "Jwks doesn't have key to match kid or alg from Jwt"
    );
}

#[test]
fn several_tokens_must_all_verify_and_params_cookies_work() {
    let cfg = config(
        json!({"from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
               "from_params": ["access_token"], "from_cookies": ["session"]}),
        json!({}),
        json!([]),
    );
    let e = engine(&cfg);
    let host = MemoryHost::at(NOW);
    let good = sign_std("HS256", &claims());
    let bad = sign_std("HS256", &with(claims(), json!({"exp": NOW - 1000})));
    let (a, _) = run(&e, &host, &format!("/api?access_token={good}"), &[]);
    assert!(matches!(a, RequestAction::Continue(_)));
    let cookie = format!("a=1; session={good}");
    let (a, _) = run(&e, &host, "/api", &[("cookie", &cookie)]);
    assert!(matches!(a, RequestAction::Continue(_)));
    let auth = format!("Bearer {good}");
    let (a, _) = run(
        &e,
        &host,
        &format!("/api?access_token={bad}"),
        &[("authorization", &auth)],
    );
    assert_eq!(denied(&a).1, "Jwt is expired");
    let (a, _) = run(
        &e,
        &host,
        &format!("/api?access_token={good}"),
        &[("authorization", &auth)],
    );
    assert!(
        matches!(a, RequestAction::Continue(_)),
        "duplicates are one token"
    );
}

#[test]
fn strip_failure_response_and_requirement_trees() {
    let cfg = config(
        json!({}),
        json!({"strip_failure_response": true,
               "requirement_map": {"opt": {"allow_missing": {}}},
               "rules": [{"match": {"prefix": "/opt"}, "requirement_name": "opt"},
                         {"match": {"prefix": "/any"}, "requires": {"allow_missing_or_failed": {}}},
                         {"match": {"prefix": "/aud"}, "requires": {"provider_and_audiences":
                             {"provider_name": "idp", "audiences": ["other"]}}},
                         {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]}),
        json!([]),
    );
    let e = engine(&cfg);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(&e, &host, "/x", &[]);
    assert_eq!(denied(&a), (401, String::new(), None));
    let (a, _) = run(&e, &host, "/opt", &[]);
    assert!(matches!(a, RequestAction::Continue(_)));
    let expired = format!(
        "Bearer {}",
        sign_std("HS256", &with(claims(), json!({"exp": 1})))
    );
    let (a, _) = run(&e, &host, "/opt", &[("authorization", &expired)]);
    assert_eq!(denied(&a).0, 401, "allow_missing still refuses a bad token");
    let (a, s) = run(&e, &host, "/any", &[("authorization", &expired)]);
    assert!(matches!(a, RequestAction::Continue(_)));
    assert!(s.identity.jwt_claims.is_empty());
    let good = format!("Bearer {}", sign_std("HS256", &claims()));
    let (a, _) = run(&e, &host, "/aud", &[("authorization", &good)]);
    assert_eq!(denied(&a).0, 403);
}

#[test]
fn edgeguard_rules_win_and_authorize() {
    let cfg = config(
        json!({}),
        json!({"revoked_jti": ["stolen"]}),
        json!([
            {"match": {"prefix": "/admin"}, "requires": {"provider_name": "idp"},
             "require_claims": {"type": "access"},
             "require_permissions": {"all": ["system:config"]}},
            {"match": {"prefix": "/public"}, "requires": {"provider_name": "idp"},
             "require_claims": {"type": ["access"]}}
        ]),
    );
    let e = engine(&cfg);
    let host = MemoryHost::at(NOW);
    let run_with = |path: &str, c: Value| {
        let h = format!("Bearer {}", sign_std("HS256", &c));
        run(&e, &host, path, &[("authorization", &h)]).0
    };
    let (st, body, _) = denied(&run_with("/admin", claims()));
    assert_eq!(st, 403);
    assert_eq!(
        body,
        r#"{"error":"permission denied","required_permission":"system:config","status":403}"#
    );
    let admin = with(claims(), json!({"permissions": ["system:config"]}));
    assert!(matches!(
        run_with("/admin", admin.clone()),
        RequestAction::Continue(_)
    ));
    let refresh = with(admin, json!({"type": "refresh"}));
    assert_eq!(denied(&run_with("/admin", refresh)).0, 403);
    // The edgeguard rule's requires wins over jwt_authn's rule for /public (no requirement).
    let (a, _) = run(&e, &host, "/public/x", &[]);
    assert_eq!(denied(&a).1, "Jwt is missing");
    let stolen = with(claims(), json!({"jti": "stolen"}));
    assert_eq!(denied(&run_with("/public", stolen)).0, 403);
}

#[test]
fn cache_hits_skip_the_signature_but_not_the_clock() {
    let e = engine(&config(json!({}), json!({}), json!([])));
    let host = MemoryHost::at(NOW);
    let token = sign_std("ES256", &with(claims(), json!({"exp": NOW + 100})));
    assert!(matches!(
        bearer(&e, &host, &token),
        RequestAction::Continue(_)
    ));
    assert!(matches!(
        bearer(&e, &host, &token),
        RequestAction::Continue(_)
    ));
    assert_eq!(host.metric("edgeguard_jwt_cache_hit_total"), 1);
    host.advance_secs(161);
    assert_eq!(body_of(&e, &host, &token), "Jwt is expired");
}

#[test]
fn config_errors_name_the_path() {
    let err = |cfg: Value| {
        Engine::from_json(cfg.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    };
    let jwks = jwks_json().to_string();
    assert_eq!(
        err(json!({"jwt_authn": {"providers": {"p": {"local_jwks": {"inline_string": jwks}}},
                   "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "q"}}]}})),
        "config error at jwt_authn.rules[0].requires.provider_name: unknown provider \"q\": not in jwt_authn.providers"
    );
    assert!(err(
        json!({"jwt_authn": {"providers": {"p": {"local_jwks": {"filename": "/k.json"}}}}})
    )
    .starts_with(
        "config error at jwt_authn.providers.p.local_jwks.filename: not supported in Wasm"
    ));
    assert!(err(json!({"jwt_authn": {"providers": {"p": {"local_jwks":
        {"inline_string": "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}"}}}}}))
    .contains("HMAC key is too weak"));
    assert!(err(json!({"jwt_authn": {"providers": {"p": {"remote_jwks":
        {"http_uri": {"uri": "https://idp/jwks", "cluster": "idp", "timeout": "5"}}}}}}))
    .contains("invalid duration"));
    assert_eq!(
        err(json!({"rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]})),
        "config error at rules[0].requires: needs a jwt_authn section with providers"
    );
    assert!(err(
        json!({"jwt_authn": {"providers": {"p": {"local_jwks": {"inline_string": jwks}}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"requirement_name": "nope"}}]})
    )
    .starts_with("config error at rules[0].requires.requirement_name: unknown requirement"));
}

// ---------- remote JWKS ----------

fn remote_config(extra: Value) -> String {
    let mut remote = json!({"http_uri": {"uri": "https://idp.example.com/.well-known/jwks.json",
                                         "cluster": "idp", "timeout": "2s"},
                            "cache_duration": "300s"});
    merge(&mut remote, extra);
    json!({"jwt_authn": {"providers": {"idp": {"issuer": "https://idp.example.com",
                "remote_jwks": remote}},
           "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]}})
    .to_string()
}

fn hdr(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn first_requests_pause_until_keys_arrive_and_one_worker_fetches() {
    let cfg = remote_config(json!({}));
    let (w1, w2) = (engine(&cfg), engine(&cfg));
    let host = MemoryHost::at(NOW);
    let token = sign_std("RS256", &claims());
    let mut s1 = Stream::default();
    let a = w1.on_request_headers(
        &mut s1,
        request("/a", &[("authorization", &hdr(&token))]),
        &host,
    );
    assert_eq!(a, RequestAction::Pause);
    let mut s2 = Stream::default();
    let a = w2.on_request_headers(
        &mut s2,
        request("/a", &[("authorization", &hdr(&token))]),
        &host,
    );
    assert_eq!(a, RequestAction::Pause);
    assert_eq!(
        host.callouts.borrow().len(),
        1,
        "one fetch for the whole proxy"
    );
    let call = host.callouts.borrow()[0].clone();
    assert_eq!(call.cluster, "idp");
    assert!(call
        .headers
        .contains(&(":path".into(), "/.well-known/jwks.json".into())));
    assert!(call
        .headers
        .contains(&(":authority".into(), "idp.example.com".into())));
    let body = jwks_json().to_string();
    assert!(w1.on_http_call_response(1, 200, &[], body.as_bytes(), &host));
    assert!(
        !w2.on_http_call_response(1, 200, &[], body.as_bytes(), &host),
        "not w2's call"
    );
    assert!(matches!(
        w1.resume(&mut s1, &host),
        RequestAction::Continue(_)
    ));
    assert!(w2.on_tick(&host));
    assert!(
        matches!(w2.resume(&mut s2, &host), RequestAction::Continue(_)),
        "keys via shared data"
    );
    assert_eq!(host.callouts.borrow().len(), 1);
}

#[test]
fn fetch_failure_fails_waiting_requests_then_backs_off() {
    let e = engine(&remote_config(json!({})));
    let host = MemoryHost::at(NOW);
    let token = sign_std("RS256", &claims());
    let mut s = Stream::default();
    let a = e.on_request_headers(
        &mut s,
        request("/a", &[("authorization", &hdr(&token))]),
        &host,
    );
    assert_eq!(a, RequestAction::Pause);
    assert!(e.on_http_call_response(1, 503, &[], b"", &host));
    assert_eq!(
        denied(&e.resume(&mut s, &host)).1,
        "Jwks remote fetch is failed"
    );
    // In backoff: new requests fail at once, without another call.
    let (a, _) = run(&e, &host, "/a", &[("authorization", &hdr(&token))]);
    assert_eq!(denied(&a).1, "Jwks remote fetch is failed");
    assert_eq!(host.callouts.borrow().len(), 1);
    host.advance_secs(2);
    let (a, _) = run(&e, &host, "/a", &[("authorization", &hdr(&token))]);
    assert_eq!(a, RequestAction::Pause);
    assert_eq!(host.callouts.borrow().len(), 2, "retried after the backoff");
}

#[test]
fn timeout_without_answer_fails_the_request() {
    let e = engine(&remote_config(json!({})));
    let host = MemoryHost::at(NOW);
    let token = sign_std("RS256", &claims());
    let mut s = Stream::default();
    let _ = e.on_request_headers(
        &mut s,
        request("/a", &[("authorization", &hdr(&token))]),
        &host,
    );
    host.advance_secs(1);
    assert!(e.on_tick(&host));
    assert_eq!(e.resume(&mut s, &host), RequestAction::Pause);
    host.advance_secs(3);
    assert_eq!(
        denied(&e.resume(&mut s, &host)).1,
        "Jwks remote fetch is failed"
    );
}

#[test]
fn refresh_before_expiry_and_keep_last_good_keys() {
    let e = engine(&remote_config(json!({})));
    let host = MemoryHost::at(NOW);
    let token = sign_std("ES256", &with(claims(), json!({"exp": NOW + 10_000})));
    let mut s = Stream::default();
    let _ = e.on_request_headers(
        &mut s,
        request("/a", &[("authorization", &hdr(&token))]),
        &host,
    );
    let body = jwks_json().to_string();
    e.on_http_call_response(1, 200, &[], body.as_bytes(), &host);
    host.advance_secs(275); // within 30 s (10 %) of the 300 s cache_duration
    e.on_tick(&host);
    assert_eq!(host.callouts.borrow().len(), 2, "refreshed before expiry");
    e.on_http_call_response(2, 500, &[], b"", &host);
    host.advance_secs(100); // past cache_duration: stale keys still serve
    let other = sign_std("ES256", &with(claims(), json!({"exp": NOW + 10_001})));
    let (a, _) = run(&e, &host, "/a", &[("authorization", &hdr(&other))]);
    assert!(matches!(a, RequestAction::Continue(_)), "{a:?}");
    assert_eq!(
        host.callouts.borrow().len(),
        3,
        "refresh retried after its backoff"
    );
    e.on_http_call_response(3, 500, &[], b"", &host);
    host.advance_secs(300); // beyond the bounded stale window
    let third = sign_std("ES256", &with(claims(), json!({"exp": NOW + 10_002})));
    let (a, _) = run(&e, &host, "/a", &[("authorization", &hdr(&third))]);
    assert_eq!(
        a,
        RequestAction::Pause,
        "stale window over: waits for a fresh fetch"
    );
}

#[test]
fn unknown_kid_refetches_once_per_interval() {
    let e = engine(&remote_config(json!({})));
    let host = MemoryHost::at(NOW);
    let token = sign_std("RS256", &claims());
    let mut s = Stream::default();
    let _ = e.on_request_headers(
        &mut s,
        request("/a", &[("authorization", &hdr(&token))]),
        &host,
    );
    let mut only_rsa = jwks_json();
    only_rsa["keys"] = json!([jwks_json()["keys"][1].clone()]);
    e.on_http_call_response(1, 200, &[], only_rsa.to_string().as_bytes(), &host);
    assert!(matches!(
        e.resume(&mut s, &host),
        RequestAction::Continue(_)
    ));
    // A token with a new kid (key rotation): one refetch, and it then verifies.
    let rotated = sign_std("ES256", &claims());
    let mut s = Stream::default();
    let a = e.on_request_headers(
        &mut s,
        request("/a", &[("authorization", &hdr(&rotated))]),
        &host,
    );
    assert_eq!(a, RequestAction::Pause);
    assert_eq!(host.callouts.borrow().len(), 2);
    e.on_http_call_response(2, 200, &[], jwks_json().to_string().as_bytes(), &host);
    assert!(matches!(
        e.resume(&mut s, &host),
        RequestAction::Continue(_)
    ));
    // Another unknown kid within the interval: no new fetch, refused.
    let unknown = sign("ES256", Some("never"), &claims());
    let (a, _) = run(&e, &host, "/a", &[("authorization", &hdr(&unknown))]);
    assert_eq!(
        denied(&a).1,
        "Jwks doesn't have key to match kid or alg from Jwt"
    );
    assert_eq!(host.callouts.borrow().len(), 2);
}

// ---------- published vectors ----------

#[test]
fn rfc_7515_and_8037_examples() {
    let doc: Value =
        serde_json::from_str(include_str!("../../../testdata/jwt/rfc_vectors.json")).unwrap();
    let now = doc["now"].as_u64().unwrap();
    let mut checked = 0;
    for v in doc["vectors"].as_array().unwrap() {
        let cfg = json!({"jwt_authn": {"providers": {"p": {"local_jwks":
                {"inline_string": json!({"keys": [v["jwk"].clone()]}).to_string()}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}});
        let e = engine(&cfg.to_string());
        let host = MemoryHost::at(now);
        let token = v["token"].as_str().unwrap();
        let name = v["name"].as_str().unwrap();
        match v["expect"].as_str().unwrap() {
            "ok" => {
                assert!(
                    matches!(bearer(&e, &host, token), RequestAction::Continue(_)),
                    "{name}"
                );
                let (input, sig) = token.rsplit_once('.').unwrap();
                let mut sig: Vec<char> = sig.chars().collect();
                sig[5] = if sig[5] == 'x' { 'y' } else { 'x' };
                let tampered = format!("{input}.{}", sig.into_iter().collect::<String>());
                assert_eq!(
                    body_of(&e, &host, &tampered),
                    "Jwt verification fails",
                    "{name}"
                );
                host.set_time_secs(1_300_819_380 + 61);
                assert_eq!(body_of(&e, &host, token), "Jwt is expired", "{name}");
            }
            message => assert_eq!(body_of(&e, &host, token), message, "{name}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn documented_example_config_loads() {
    let e = Engine::from_json(include_bytes!("../../../testdata/jwt/example_config.json"));
    assert!(e.is_ok(), "{:?}", e.err());
}

#[test]
fn json_schema_describes_the_jwt_section() {
    let schema = crate::config::Config::json_schema().to_string();
    for needle in [
        "JwtProvider",
        "remote_jwks",
        "ProtoDuration",
        "require_permissions",
        "allow_missing_or_failed",
    ] {
        assert!(schema.contains(needle), "{needle}");
    }
}

#[test]
fn denied_admin_permission_is_a_security_event() {
    let cfg = config(
        json!({}),
        json!({}),
        json!([{"match": {"prefix": "/admin"}, "requires": {"provider_name": "idp"},
                "require_permissions": {"all": ["system:config"]}}]),
    );
    let e = engine(&cfg);
    let host = MemoryHost::at(NOW);
    let h = format!("Bearer {}", sign_std("HS256", &claims()));
    let (a, _) = run(&e, &host, "/admin/x", &[("authorization", &h)]);
    let RequestAction::Respond(r) = a else {
        panic!("{a:?}")
    };
    assert_eq!((r.status, r.reason), (403, "jwt_permission_denied"));
    assert_eq!(
        host.metric("edgeguard_security_events_total"),
        1,
        "{}",
        host.log_text()
    );
}

#[test]
fn forward_keeps_the_token_and_padding_is_added_on_request() {
    let cfg = config(
        json!({"forward": true, "pad_forward_payload_header": true}),
        json!({}),
        json!([]),
    );
    let e = engine(&cfg);
    let host = MemoryHost::at(NOW);
    let token = sign_std("HS256", &claims());
    let RequestAction::Continue(m) = bearer(&e, &host, &token) else {
        panic!("not accepted")
    };
    assert!(!m.remove.contains(&"authorization".to_string()));
    let (_, v) = m.set.iter().find(|(k, _)| k == "x-jwt-payload").unwrap();
    assert_eq!(v.len() % 4, 0);
    assert_eq!(v.trim_end_matches('='), token.split('.').nth(1).unwrap());
}
