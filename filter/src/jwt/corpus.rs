//! Generator of the differential token corpus (`testdata/jwt/corpus/`): the same jwt_authn
//! config, JWKS and requests are meant to be sent to Envoy's native `jwt_authn` and to
//! edgeguard, comparing status, `WWW-Authenticate` and body. The expectations recorded here
//! are edgeguard's answers at generation time.
//!
//! Regenerate (keys are fresh each run; the boundary cases depend on the time given):
//! `EDGEGUARD_CORPUS_NOW=$(date +%s) cargo test -p edgeguard --lib write_differential_corpus -- --ignored`

use super::testkit::*;
use crate::decision::RequestAction;
use crate::engine::{Engine, Stream};
use crate::host::memory::MemoryHost;
use crate::request::{ConnectionInfo, RequestView};
use serde_json::{json, Value};

const FAR: u64 = 4_102_444_800; // 2100-01-01

fn section() -> Value {
    json!({
        "providers": {"idp": {
            "issuer": "https://idp.example.com",
            "audiences": ["api"],
            "local_jwks": {"inline_string": jwks_json().to_string()},
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "from_params": ["access_token"],
            "from_cookies": ["session"],
            "forward": true
        },
        "strict": {
            "issuer": "https://idp.example.com",
            "audiences": ["api"],
            "local_jwks": {"inline_string": jwks_json().to_string()},
            "require_expiration": true,
            "max_lifetime": "3600s",
            "forward": true
        },
        "lifetime": {
            "issuer": "https://idp.example.com",
            "local_jwks": {"inline_string": jwks_json().to_string()},
            "max_lifetime": "3600s",
            "forward": true
        }},
        "rules": [
            {"match": {"prefix": "/strict"}, "requires": {"provider_name": "strict"}},
            {"match": {"prefix": "/lifetime"}, "requires": {"provider_name": "lifetime"}},
            {"match": {"prefix": "/any"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "strict"},
                {"provider_and_audiences": {"provider_name": "idp", "audiences": ["other"]}}
            ]}}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}
        ]
    })
}

fn claims(now: u64) -> Value {
    json!({"iss": "https://idp.example.com", "aud": "api", "sub": "user-1",
           "iat": now, "exp": FAR})
}

fn with(mut c: Value, extra: Value) -> Value {
    if let (Some(o), Value::Object(e)) = (c.as_object_mut(), extra) {
        o.extend(e);
    }
    c
}

/// (name, path, headers) of one corpus request.
type Case = (String, String, Vec<(String, String)>);

fn cases(now: u64) -> Vec<Case> {
    let bearer = |t: &str| vec![("authorization".to_string(), format!("Bearer {t}"))];
    let mut out: Vec<Case> = Vec::new();
    let mut add = |name: &str, path: &str, headers: Vec<(String, String)>| {
        out.push((name.to_string(), path.to_string(), headers));
    };
    for alg in ALGS {
        add(
            &format!("valid {alg}"),
            "/api",
            bearer(&sign_std(alg, &claims(now))),
        );
    }
    add("missing", "/api?x=1", vec![]);
    let c = claims(now);
    add(
        "expired",
        "/api",
        bearer(&sign_std(
            "RS256",
            &with(c.clone(), json!({"exp": now - 3600})),
        )),
    );
    add(
        "nbf in the future",
        "/api",
        bearer(&sign_std(
            "ES256",
            &with(c.clone(), json!({"nbf": now + 3600})),
        )),
    );
    add(
        "exp exactly now-skew",
        "/api",
        bearer(&sign_std(
            "HS256",
            &with(c.clone(), json!({"exp": now - 60})),
        )),
    );
    add(
        "exp now-skew-1",
        "/api",
        bearer(&sign_std(
            "HS256",
            &with(c.clone(), json!({"exp": now - 61})),
        )),
    );
    add(
        "nbf exactly now+skew",
        "/api",
        bearer(&sign_std(
            "HS256",
            &with(c.clone(), json!({"nbf": now + 60})),
        )),
    );
    add(
        "nbf now+skew+1",
        "/api",
        bearer(&sign_std(
            "HS256",
            &with(c.clone(), json!({"nbf": now + 61})),
        )),
    );
    add(
        "wrong issuer",
        "/api",
        bearer(&sign_std(
            "RS256",
            &with(c.clone(), json!({"iss": "https://evil.example.com"})),
        )),
    );
    add(
        "wrong audience",
        "/api",
        bearer(&sign_std(
            "RS256",
            &with(c.clone(), json!({"aud": "other"})),
        )),
    );
    add(
        "unknown kid",
        "/api",
        bearer(&sign("RS256", Some("unknown"), &c)),
    );
    let good = sign_std("RS256", &c);
    let parts: Vec<&str> = good.split('.').collect();
    let evil_payload = b64(with(c.clone(), json!({"sub": "admin"}))
        .to_string()
        .as_bytes());
    add(
        "tampered payload",
        "/api",
        bearer(&format!("{}.{}.{}", parts[0], evil_payload, parts[2])),
    );
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[20] = if sig[20] == 'A' { 'B' } else { 'A' };
    add(
        "tampered signature",
        "/api",
        bearer(&format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            sig.iter().collect::<String>()
        )),
    );
    let none_header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    add(
        "alg none, empty signature",
        "/api",
        bearer(&format!("{none_header}.{}.", parts[1])),
    );
    add(
        "alg none, some signature",
        "/api",
        bearer(&format!("{none_header}.{}.c2ln", parts[1])),
    );
    let der = keys().rsa.public_key().to_der().unwrap();
    let input = format!("{}.{}", b64(br#"{"alg":"HS256","kid":"rsa"}"#), parts[1]);
    let confused = format!(
        "{input}.{}",
        b64(&hmac_sha256::HMAC::mac(input.as_bytes(), &der))
    );
    add("RS256 to HS256 key confusion", "/api", bearer(&confused));
    let es = sign_std("ES256", &c);
    let es_parts: Vec<&str> = es.split('.').collect();
    add(
        "ES256 r=s=0",
        "/api",
        bearer(&format!(
            "{}.{}.{}",
            es_parts[0],
            es_parts[1],
            b64(&[0u8; 64])
        )),
    );
    add(
        "empty signature",
        "/api",
        bearer(&format!("{}.{}.", parts[0], parts[1])),
    );
    add(
        "bad base64 header",
        "/api",
        bearer(&format!("a.{}.{}", parts[1], parts[2])),
    );
    add(
        "bad JSON header",
        "/api",
        bearer(&format!("{}.{}.{}", b64(b"{nope"), parts[1], parts[2])),
    );
    add(
        "bad JSON payload",
        "/api",
        bearer(&hs256_raw(r#"{"alg":"HS256"}"#, "{nope")),
    );
    add(
        "exp not an integer",
        "/api",
        bearer(&hs256_raw(
            r#"{"alg":"HS256"}"#,
            r#"{"iss":"https://idp.example.com","exp":"x"}"#,
        )),
    );
    add("two dots missing", "/api", bearer("abc.def"));
    add(
        "duplicate token in two headers",
        "/api",
        vec![
            ("authorization".into(), format!("Bearer {good}")),
            ("authorization".into(), format!("Bearer {good}")),
        ],
    );
    let expired = sign_std("HS256", &with(c.clone(), json!({"exp": now - 3600})));
    add(
        "good header token, expired param token",
        &format!("/api?access_token={expired}"),
        bearer(&good),
    );
    add(
        "token in param",
        &format!("/api?access_token={good}"),
        vec![],
    );
    add(
        "token in cookie",
        "/api",
        vec![("cookie".into(), format!("a=b; session={good}"))],
    );
    // RFC 7515 4.1.11: a `crit` header names extensions the recipient must understand.
    let payload = c.to_string();
    for (name, header) in [
        (
            "crit names an unknown extension (HS256)",
            r#"{"alg":"HS256","kid":"hmac","crit":["urn:example:ext"],"urn:example:ext":1}"#,
        ),
        (
            "crit is an empty list (HS256)",
            r#"{"alg":"HS256","kid":"hmac","crit":[]}"#,
        ),
        (
            "crit is not a list (HS256)",
            r#"{"alg":"HS256","kid":"hmac","crit":"exp"}"#,
        ),
    ] {
        add(name, "/api", bearer(&hs256_raw(header, &payload)));
    }
    add(
        "crit names an unknown extension (EdDSA)",
        "/api",
        bearer(&eddsa_raw(
            r#"{"alg":"EdDSA","kid":"ed","crit":["urn:example:ext"],"urn:example:ext":1}"#,
            &payload,
        )),
    );
    // The strict provider: `require_expiration` and `max_lifetime` (3600 s).
    let no_exp =
        json!({"iss": "https://idp.example.com", "aud": "api", "sub": "user-1", "iat": now});
    add(
        "require_expiration, no exp",
        "/strict",
        bearer(&sign_std("ES256", &no_exp)),
    );
    let short = with(c.clone(), json!({"exp": now + 1800}));
    add(
        "max_lifetime, 1800 s token",
        "/strict",
        bearer(&sign_std("ES256", &short)),
    );
    add(
        "max_lifetime, 1800 s token without iat",
        "/strict",
        bearer(&sign_std(
            "ES256",
            &json!({"iss": "https://idp.example.com", "aud": "api", "exp": now + 1800}),
        )),
    );
    add(
        "max_lifetime, token longer than allowed",
        "/strict",
        bearer(&sign_std("ES256", &c)),
    );
    add(
        "max_lifetime, 7200 s token without iat",
        "/strict",
        bearer(&sign_std(
            "ES256",
            &json!({"iss": "https://idp.example.com", "aud": "api", "exp": now + 7200}),
        )),
    );
    add(
        "max_lifetime, iat in the future",
        "/strict",
        bearer(&sign_std(
            "ES256",
            &json!({"iss": "https://idp.example.com", "aud": "api", "iat": now + 600, "exp": now + 1800}),
        )),
    );
    add(
        "max_lifetime, issued 7000 s ago, expires in 1000 s",
        "/strict",
        bearer(&sign_std(
            "ES256",
            &json!({"iss": "https://idp.example.com", "aud": "api", "iat": now - 7000, "exp": now + 1000}),
        )),
    );
    for ahead in [3600, 3601, 3660, 3661] {
        add(
            &format!("max_lifetime, expires in {ahead} s"),
            "/strict",
            bearer(&sign_std(
                "ES256",
                &json!({"iss": "https://idp.example.com", "aud": "api", "iat": now, "exp": now + ahead}),
            )),
        );
    }
    add(
        "require_expiration, no exp, wrong audience",
        "/strict",
        bearer(&sign_std(
            "ES256",
            &with(no_exp.clone(), json!({"aud": "other"})),
        )),
    );
    add(
        "max_lifetime, token longer than allowed, wrong audience",
        "/strict",
        bearer(&sign_std(
            "ES256",
            &with(c.clone(), json!({"aud": "other"})),
        )),
    );
    // The lifetime provider: `max_lifetime` without `require_expiration`.
    add(
        "max_lifetime without require_expiration, no exp",
        "/lifetime",
        bearer(&sign_std("ES256", &no_exp)),
    );
    add(
        "max_lifetime without require_expiration, neither exp nor iat",
        "/lifetime",
        bearer(&sign_std(
            "ES256",
            &json!({"iss": "https://idp.example.com", "sub": "user-1"}),
        )),
    );
    // requires_any: the strict provider, or idp with audience `other`.
    add(
        "requires_any, the first requirement passes",
        "/any",
        bearer(&sign_std("ES256", &short)),
    );
    add(
        "requires_any, both fail (lifetime, audience)",
        "/any",
        bearer(&sign_std("ES256", &c)),
    );
    add(
        "requires_any, both fail (expired)",
        "/any",
        bearer(&sign_std(
            "ES256",
            &with(c.clone(), json!({"exp": now - 3600})),
        )),
    );
    add("requires_any, no token", "/any", vec![]);
    let big = sign_std("HS256", &with(c, json!({"pad": "x".repeat(16_000)})));
    add("oversized token (16 KB claim)", "/api", bearer(&big));
    out
}

#[test]
#[ignore = "writes testdata/jwt/corpus; run on purpose to regenerate"]
fn write_differential_corpus() {
    // Generation time: the wall clock is fine here (test tooling, not the filter).
    let now = std::env::var("EDGEGUARD_CORPUS_NOW")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    let section = section();
    let engine = Engine::from_json(json!({"jwt_authn": section}).to_string().as_bytes()).unwrap();
    let host = MemoryHost::at(now);
    let mut out = Vec::new();
    for (name, path, headers) in cases(now) {
        let req = RequestView::new(
            "GET",
            "http",
            "localhost",
            &path,
            headers.clone(),
            ConnectionInfo::default(),
        )
        .unwrap();
        let action = engine.on_request_headers(&mut Stream::default(), req, &host);
        let expect = match action {
            RequestAction::Continue(_) => json!({"status": 200}),
            RequestAction::Respond(r) => json!({
                "status": r.status,
                "body": String::from_utf8_lossy(&r.body),
                "www_authenticate": r.headers.iter().find(|(k, _)| k == "www-authenticate").map(|(_, v)| v.clone()),
            }),
            other => panic!("{name}: {other:?}"),
        };
        out.push(json!({"name": name, "path": path,
            "headers": headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "expect": expect}));
    }
    let doc = json!({
        "about": "Differential corpus for edgeguard vs Envoy jwt_authn. Requests go to http://localhost<path>; expect = edgeguard's answer at generation time (realm uses scheme http, authority localhost). Regenerate with EDGEGUARD_CORPUS_NOW=$(date +%s) cargo test -p edgeguard --lib write_differential_corpus -- --ignored; the exp/nbf boundary cases hold only for a few seconds after that time.",
        "generated_at": now,
        "jwt_authn": section,
        "cases": out,
    });
    assert!(doc["cases"].as_array().unwrap().len() >= 35);
    let text = serde_json::to_string_pretty(&doc).unwrap();
    // The real-Envoy differential test (test-host/tests/jwt_authn_differential.rs) asks for a
    // fresh corpus at a path of its own, so the boundary cases hold while it runs.
    if let Ok(path) = std::env::var("EDGEGUARD_CORPUS_OUT") {
        std::fs::write(path, text).unwrap();
        return;
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/jwt/corpus");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(format!("{dir}/corpus.json"), text).unwrap();
    std::fs::write(
        format!("{dir}/jwks.json"),
        serde_json::to_string_pretty(&jwks_json()).unwrap(),
    )
    .unwrap();
}

#[test]
fn corpus_cases_behave_as_documented() {
    let now = 1_800_000_000;
    let engine = Engine::from_json(json!({"jwt_authn": section()}).to_string().as_bytes()).unwrap();
    let host = MemoryHost::at(now);
    let mut statuses = std::collections::BTreeMap::new();
    for (name, path, headers) in cases(now) {
        let req = RequestView::new(
            "GET",
            "http",
            "localhost",
            &path,
            headers,
            ConnectionInfo::default(),
        )
        .unwrap();
        let status = match engine.on_request_headers(&mut Stream::default(), req, &host) {
            RequestAction::Continue(_) => 200,
            RequestAction::Respond(r) => r.status,
            other => panic!("{name}: {other:?}"),
        };
        statuses.insert(name, status);
    }
    for alg in ALGS {
        assert_eq!(statuses[&format!("valid {alg}")], 200, "{alg}");
    }
    let expected: [(u16, &[&str]); 3] = [
        (
            200,
            &[
                "exp exactly now-skew",
                "nbf exactly now+skew",
                "token in param",
                "token in cookie",
                "oversized token (16 KB claim)",
                // Envoy ignores `crit` (RFC 7515 says to refuse unknown extensions); so does edgeguard.
                "crit names an unknown extension (HS256)",
                "crit is an empty list (HS256)",
                "crit is not a list (HS256)",
                "crit names an unknown extension (EdDSA)",
                // max_lifetime bounds exp - now, whatever iat says.
                "max_lifetime, 1800 s token",
                "max_lifetime, 1800 s token without iat",
                "max_lifetime, iat in the future",
                "max_lifetime, issued 7000 s ago, expires in 1000 s",
                "max_lifetime, expires in 3600 s",
                "requires_any, the first requirement passes",
            ],
        ),
        (
            401,
            &[
                "require_expiration, no exp",
                "max_lifetime, 7200 s token without iat",
                "max_lifetime, expires in 3601 s",
                "max_lifetime without require_expiration, no exp",
                "requires_any, both fail (expired)",
                "requires_any, no token",
            ],
        ),
        (
            403,
            &[
                "wrong audience",
                // The audience is checked before the lifetime, as in Envoy.
                "require_expiration, no exp, wrong audience",
                "max_lifetime, token longer than allowed, wrong audience",
                // requires_any reports the last requirement's failure (idp with audience `other`).
                "requires_any, both fail (lifetime, audience)",
            ],
        ),
    ];
    for (status, names) in expected {
        for name in names {
            assert_eq!(statuses[*name], status, "{name}");
        }
    }
    // Native jwt_authn joins the two header lines with ',' into one malformed token.
    assert_eq!(statuses["duplicate token in two headers"], 401);
    let refused = statuses.values().filter(|s| **s == 401).count();
    assert_eq!(refused, statuses.len() - ALGS.len() - 19);
}
