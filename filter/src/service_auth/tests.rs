//! Service-auth behaviour through the engine: RFC vectors, the body (NeedBody) path, replay,
//! tokens, identity forwarding, policy, config errors, and interop with the PyPI library
//! `http-message-signatures`.

use super::message_signature::{self as ms, SignSpec, SigningKey};
use super::*;
use crate::decision::{HeaderMutations, RequestAction};
use crate::engine::{Engine, Stream};
use crate::host::memory::MemoryHost;
use crate::request::ConnectionInfo;
use base64::Engine as _;
use serde_json::Value;
use std::path::PathBuf;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/service_auth")
        .join(name)
}

fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(testdata(name)).unwrap()).unwrap()
}

fn view(
    method: &str,
    scheme: &str,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> RequestView {
    RequestView::new(
        method,
        scheme,
        authority,
        path,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ConnectionInfo::default(),
    )
    .unwrap()
}

fn view_from_json(r: &Value) -> RequestView {
    let headers: Vec<(String, String)> = r["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_string(),
                h[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    RequestView::new(
        r["method"].as_str().unwrap(),
        r["scheme"].as_str().unwrap(),
        r["authority"].as_str().unwrap(),
        r["path"].as_str().unwrap(),
        headers,
        ConnectionInfo::default(),
    )
    .unwrap()
}

/// Run one request through the engine, feeding the body when asked.
fn run(engine: &Engine, host: &MemoryHost, req: RequestView, body: &[u8]) -> RequestAction {
    let mut s = Stream::default();
    match engine.on_request_headers(&mut s, req, host) {
        RequestAction::NeedBody => engine.on_request_body(&mut s, body, true, host),
        other => other,
    }
}

fn continued(a: &RequestAction) -> &HeaderMutations {
    match a {
        RequestAction::Continue(m) => m,
        other => panic!("expected Continue, got {other:?}"),
    }
}

fn denied(a: &RequestAction) -> (u16, &'static str, Value) {
    match a {
        RequestAction::Respond(r) => (r.status, r.reason, serde_json::from_slice(&r.body).unwrap()),
        other => panic!("expected a local reply, got {other:?}"),
    }
}

const ED_SEED_B64URL: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";

fn ed_seed() -> [u8; 32] {
    config::decode_base64_any(ED_SEED_B64URL)
        .unwrap()
        .try_into()
        .unwrap()
}

fn rfc_hmac_secret() -> Vec<u8> {
    let v = load("rfc9421_vectors.json");
    base64::engine::general_purpose::STANDARD
        .decode(
            v["keys"]["test-shared-secret"]["secret_base64"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
}

#[test]
fn rfc9421_b25_b26_signature_bases_and_signatures_verify() {
    let v = load("rfc9421_vectors.json");
    let req = view_from_json(&v["request"]);
    let pem = v["keys"]["test-key-ed25519"]["public_key_pem"]
        .as_str()
        .unwrap();
    let ed = ms::ed25519_public_key(pem.as_bytes()).unwrap();
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let parsed = ms::parse_signatures(
            case["signature_input"].as_str().unwrap(),
            case["signature"].as_str().unwrap(),
        )
        .unwrap();
        let p = &parsed[0];
        let base = ms::signature_base(&req, &p.components, &p.signature_params).unwrap();
        assert_eq!(base, case["signature_base"].as_str().unwrap(), "{name}");
        let keys = if case["keyid"] == "test-shared-secret" {
            ms::VerifyKeys::HmacSha256(vec![rfc_hmac_secret()])
        } else {
            ms::VerifyKeys::Ed25519(vec![ed])
        };
        assert!(
            keys.verify(base.as_bytes(), &p.signature),
            "{name} verifies"
        );
        let mut tampered = req.clone();
        tampered.headers.retain(|(k, _)| k != "date");
        tampered
            .headers
            .push(("date".into(), "Tue, 20 Apr 2021 02:07:56 GMT".into()));
        let base2 = ms::signature_base(&tampered, &p.components, &p.signature_params).unwrap();
        assert!(
            !keys.verify(base2.as_bytes(), &p.signature),
            "{name} tampered date"
        );
    }
}

#[test]
fn signing_reproduces_the_rfc_signatures() {
    let v = load("rfc9421_vectors.json");
    let req = view_from_json(&v["request"]);
    for (case, key) in v["cases"].as_array().unwrap().iter().zip([
        SigningKey::HmacSha256(rfc_hmac_secret()),
        SigningKey::Ed25519(ed_seed()),
    ]) {
        let parsed = ms::parse_signatures(
            case["signature_input"].as_str().unwrap(),
            case["signature"].as_str().unwrap(),
        )
        .unwrap();
        let p = &parsed[0];
        let spec = SignSpec {
            label: p.label.clone(),
            keyid: p.keyid.clone().unwrap(),
            key,
            components: p.components.iter().map(|c| c.serialize()).collect(),
            created: p.created,
            expires: None,
            nonce: None,
            tag: None,
            include_alg: false,
        };
        let added = sign_request(&req, None, &spec).unwrap();
        assert_eq!(added[0].1, case["signature_input"].as_str().unwrap());
        assert_eq!(added[1].1, case["signature"].as_str().unwrap());
    }
}

#[test]
fn rfc9530_vectors() {
    let v = load("rfc9530_vectors.json");
    for case in v["cases"].as_array().unwrap() {
        let r = content_digest::verify(
            case["content_digest"].as_str().unwrap(),
            case["body"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(r.is_ok(), case["valid"].as_bool().unwrap(), "{case}");
    }
}

#[test]
fn rfc_vectors_pass_through_the_engine() {
    let v = load("rfc9421_vectors.json");
    let secret_b64 = v["keys"]["test-shared-secret"]["secret_base64"]
        .as_str()
        .unwrap();
    let pem = v["keys"]["test-key-ed25519"]["public_key_pem"]
        .as_str()
        .unwrap();
    let cfg = serde_json::json!({
        "service_auth": {
            "policy": {"required_components": ["@authority"], "require_content_digest": false,
                       "replay_protection": false},
            "keys": {
                "test-shared-secret": {"alg": "hmac-sha256", "service_id": "hmac-client",
                    "secrets": [{"value": secret_b64, "encoding": "base64"}]},
                "test-key-ed25519": {"alg": "ed25519", "service_id": "ed-client",
                    "public_keys": [pem]}
            }
        },
        "rules": [{"match": {"prefix": "/"}, "service_auth": {}}]
    });
    let engine = Engine::from_json(cfg.to_string().as_bytes()).unwrap();
    let host = MemoryHost::at(1_618_884_473 + 60);
    for (case, who) in v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["hmac-client", "ed-client"])
    {
        let mut req = view_from_json(&v["request"]);
        req.headers.push((
            "signature-input".into(),
            case["signature_input"].as_str().unwrap().into(),
        ));
        req.headers.push((
            "signature".into(),
            case["signature"].as_str().unwrap().into(),
        ));
        req.headers.push(("x-service-id".into(), "forged".into()));
        let action = run(&engine, &host, req, br#"{"hello": "world"}"#);
        let m = continued(&action);
        assert!(m.remove.contains(&"x-service-id".to_string()));
        assert_eq!(m.set, vec![("x-service-id".to_string(), who.to_string())]);
    }
    assert_eq!(host.metric("edgeguard_service_auth_ok_signature_total"), 2);
    // Ten minutes later both are expired (created + 300 s + 30 s skew).
    host.advance_secs(600);
    let mut req = view_from_json(&v["request"]);
    req.headers.push((
        "signature-input".into(),
        v["cases"][0]["signature_input"].as_str().unwrap().into(),
    ));
    req.headers.push((
        "signature".into(),
        v["cases"][0]["signature"].as_str().unwrap().into(),
    ));
    let (status, reason, body) = denied(&run(&engine, &host, req, b""));
    assert_eq!((status, reason), (401, "service_signature_expired"));
    assert!(body["error"].as_str().unwrap().starts_with("expired:"));
}

const NOW: u64 = 1_795_435_200;
const ENV_SECRET: &str = "env-secret-for-svc-a";

fn test_engine() -> Engine {
    // SAFETY (edition 2021: set_var is safe): every test sets the same value.
    std::env::set_var("EDGEGUARD_TEST_SVC_A_SECRET", ENV_SECRET);
    let pem_pub = {
        let vk = ed25519_dalek::SigningKey::from_bytes(&ed_seed()).verifying_key();
        base64::engine::general_purpose::STANDARD.encode(vk.as_bytes())
    };
    let cfg = serde_json::json!({
        "service_auth": {
            "service_name": "email-router",
            "max_body_bytes": 64,
            "keys": {
                "svc-a": {"alg": "hmac-sha256", "service_id": "call-assistant",
                          "secrets": [{"env": "EDGEGUARD_TEST_SVC_A_SECRET"}, "old-secret"]},
                "ed": {"alg": "ed25519", "service_id": "doc-agent", "public_keys": [pem_pub],
                       "policy": {"required_tag": "edge"}}
            },
            "service_tokens": {"replay_protection": true,
                               "services": {"call-assistant": {"secrets": ["tok-secret"]}}}
        },
        "rules": [
            {"name": "admin", "match": {"prefix": "/admin"},
             "service_auth": {"allowed_services": ["doc-agent"]}},
            {"name": "open", "match": {"prefix": "/open"}, "service_auth": {"required": false}},
            {"name": "tokens-only", "match": {"prefix": "/tok"},
             "service_auth": {"kinds": ["service_token"], "target_service": "billing"}},
            {"name": "public", "match": {"prefix": "/public"}},
            {"name": "svc", "match": {"prefix": "/"}, "service_auth": {}}
        ]
    });
    Engine::from_json(cfg.to_string().as_bytes()).unwrap()
}

fn hmac_spec(secret: &[u8], components: &[&str], nonce: Option<&str>) -> SignSpec {
    SignSpec {
        label: "sig1".into(),
        keyid: "svc-a".into(),
        key: SigningKey::HmacSha256(secret.to_vec()),
        components: components.iter().map(|s| s.to_string()).collect(),
        created: Some(NOW as i64),
        expires: None,
        nonce: nonce.map(str::to_string),
        tag: None,
        include_alg: true,
    }
}

fn signed(mut req: RequestView, body: Option<&[u8]>, spec: &SignSpec) -> RequestView {
    let added = sign_request(&req, body, spec).unwrap();
    req.headers.extend(added);
    req
}

const GET_COMPONENTS: &[&str] = &["@method", "@authority", "@path", "@query"];
const POST_COMPONENTS: &[&str] = &[
    "@method",
    "@authority",
    "@path",
    "content-type",
    "content-digest",
];

#[test]
fn signed_get_is_forwarded_with_identity_and_incoming_copies_stripped() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW + 5);
    let req = view(
        "GET",
        "https",
        "api.example.com",
        "/orders?id=7",
        &[("x-service-id", "admin")],
    );
    let req = signed(
        req,
        None,
        &hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, Some("n-1")),
    );
    let action = run(&engine, &host, req.clone(), b"");
    let m = continued(&action);
    assert_eq!(m.remove, vec!["x-service-id".to_string()]);
    assert_eq!(
        m.set,
        vec![("x-service-id".to_string(), "call-assistant".to_string())]
    );
    // The same signature again is a replay, rejected across workers via shared data.
    let (status, reason, body) = denied(&run(&engine, &host, req, b""));
    assert_eq!((status, reason), (401, "service_auth_replayed"));
    assert!(body["error"].as_str().unwrap().starts_with("replayed:"));
    assert_eq!(host.metric("edgeguard_service_auth_replayed_total"), 1);
}

#[test]
fn rotated_secret_verifies_and_wrong_secret_does_not() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW);
    let req = view("GET", "https", "api.example.com", "/x", &[]);
    let ok = signed(
        req.clone(),
        None,
        &hmac_spec(b"old-secret", GET_COMPONENTS, None),
    );
    continued(&run(&engine, &host, ok, b""));
    let bad = signed(
        req,
        None,
        &hmac_spec(b"guessed-secret", GET_COMPONENTS, None),
    );
    let (status, reason, body) = denied(&run(&engine, &host, bad, b""));
    assert_eq!((status, reason), (401, "service_signature_invalid"));
    let text = body.to_string();
    assert!(
        !text.contains("old-secret") && !text.contains(ENV_SECRET) && !text.contains("guessed")
    );
    assert!(text.contains("signature_invalid"));
}

#[test]
fn body_is_buffered_and_checked_against_content_digest() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW);
    let body = br#"{"to":"a@b.c"}"#;
    let len = body.len().to_string();
    let base = view(
        "POST",
        "https",
        "api.example.com",
        "/send",
        &[
            ("content-type", "application/json"),
            ("content-length", &len),
        ],
    );
    let req = signed(
        base.clone(),
        Some(body),
        &hmac_spec(ENV_SECRET.as_bytes(), POST_COMPONENTS, Some("b1")),
    );
    let mut s = Stream::default();
    let mut forged = req.clone();
    forged.headers.push(("x-service-id".into(), "admin".into()));
    assert_eq!(
        engine.on_request_headers(&mut s, forged, &host),
        RequestAction::NeedBody
    );
    // The identity is decided before the body: adapters apply this while headers can change.
    let early = engine.take_request_mutations(&mut s);
    assert_eq!(early.remove, vec!["x-service-id".to_string()]);
    assert_eq!(
        early.set,
        vec![("x-service-id".to_string(), "call-assistant".to_string())]
    );
    assert!(continued(&engine.on_request_body(&mut s, body, true, &host)).is_empty());

    // Same headers, different body: the digest (covered and signed) no longer matches.
    let tampered = signed(
        base.clone(),
        Some(body),
        &hmac_spec(ENV_SECRET.as_bytes(), POST_COMPONENTS, Some("b2")),
    );
    let (status, reason, _) = denied(&run(&engine, &host, tampered, br#"{"to":"evil@x.y"}"#));
    assert_eq!((status, reason), (401, "service_content_digest_invalid"));

    // A wrong signature on a request with a body is refused at header time, unbuffered.
    let forged = signed(
        base.clone(),
        Some(body),
        &hmac_spec(b"not-the-secret", POST_COMPONENTS, Some("b3")),
    );
    let mut s = Stream::default();
    let (status, reason, _) = denied(&engine.on_request_headers(&mut s, forged, &host));
    assert_eq!((status, reason), (401, "service_signature_invalid"));

    // A body without content-digest coverage is refused by the default policy.
    let uncovered = signed(
        base,
        Some(body),
        &hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, None),
    );
    let (status, reason, body_json) = denied(&run(&engine, &host, uncovered, body));
    assert_eq!((status, reason), (401, "service_signature_policy"));
    assert!(body_json["error"]
        .as_str()
        .unwrap()
        .contains("content-digest"));
}

#[test]
fn oversized_body_is_413() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW);
    let body = vec![b'a'; 100];
    let declared = view(
        "POST",
        "https",
        "api.example.com",
        "/send",
        &[("content-type", "text/plain"), ("content-length", "100")],
    );
    let req = signed(
        declared,
        Some(&body),
        &hmac_spec(ENV_SECRET.as_bytes(), POST_COMPONENTS, None),
    );
    let mut s = Stream::default();
    let (status, reason, _) = denied(&engine.on_request_headers(&mut s, req, &host));
    assert_eq!((status, reason), (413, "service_auth_body_too_large"));
    // Chunked (no content-length): detected after buffering.
    let chunked = view(
        "POST",
        "https",
        "api.example.com",
        "/send",
        &[
            ("content-type", "text/plain"),
            ("transfer-encoding", "chunked"),
        ],
    );
    let req = signed(
        chunked,
        Some(&body),
        &hmac_spec(ENV_SECRET.as_bytes(), POST_COMPONENTS, None),
    );
    let (status, _, _) = denied(&run(&engine, &host, req, &body));
    assert_eq!(status, 413);
}

#[test]
fn policy_failures_have_distinct_reasons() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW);
    let req = view("GET", "https", "api.example.com", "/x", &[]);
    let cases: Vec<(SignSpec, &str)> = vec![
        (
            hmac_spec(ENV_SECRET.as_bytes(), &["@method", "@path"], None),
            "service_signature_policy",
        ),
        (
            SignSpec {
                keyid: "nobody".into(),
                ..hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, None)
            },
            "service_signature_unknown_key",
        ),
        (
            SignSpec {
                created: None,
                ..hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, None)
            },
            "service_signature_policy",
        ),
        (
            SignSpec {
                created: Some(NOW as i64 + 120),
                ..hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, None)
            },
            "service_signature_future",
        ),
        (
            SignSpec {
                expires: Some(NOW as i64 - 60),
                ..hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, None)
            },
            "service_signature_expired",
        ),
        (
            SignSpec {
                key: SigningKey::Ed25519(ed_seed()),
                ..hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, None)
            },
            "service_signature_alg_mismatch",
        ),
    ];
    for (spec, want) in cases {
        let (status, reason, _) =
            denied(&run(&engine, &host, signed(req.clone(), None, &spec), b""));
        assert_eq!((status, reason), (401, want), "{spec:?}");
    }
    // Ed25519 key with a required tag: missing tag fails, right tag passes.
    let ed = |tag: Option<&str>| SignSpec {
        keyid: "ed".into(),
        key: SigningKey::Ed25519(ed_seed()),
        tag: tag.map(str::to_string),
        ..hmac_spec(b"", GET_COMPONENTS, None)
    };
    let (_, reason, _) = denied(&run(
        &engine,
        &host,
        signed(req.clone(), None, &ed(None)),
        b"",
    ));
    assert_eq!(reason, "service_signature_policy");
    continued(&run(
        &engine,
        &host,
        signed(req.clone(), None, &ed(Some("edge"))),
        b"",
    ));
    // Malformed headers.
    let mut bad = req.clone();
    bad.headers
        .push(("signature-input".into(), "sig1=(@method)".into()));
    bad.headers.push(("signature".into(), "sig1=:AA==:".into()));
    let (_, reason, _) = denied(&run(&engine, &host, bad, b""));
    assert_eq!(reason, "service_signature_malformed");
    // Covered header absent from the request.
    let mut absent = signed(
        view(
            "GET",
            "https",
            "api.example.com",
            "/x",
            &[("x-tenant", "t1")],
        ),
        None,
        &hmac_spec(
            ENV_SECRET.as_bytes(),
            &["@method", "@authority", "@path", "x-tenant"],
            None,
        ),
    );
    absent.headers.retain(|(k, _)| k != "x-tenant");
    let (_, reason, _) = denied(&run(&engine, &host, absent, b""));
    assert_eq!(reason, "service_signature_malformed");
}

#[test]
fn missing_credential_and_optional_rules() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW);
    let (status, reason, body) = denied(&run(
        &engine,
        &host,
        view("GET", "https", "api.example.com", "/x", &[]),
        b"",
    ));
    assert_eq!((status, reason), (401, "service_auth_missing"));
    assert!(body["error"].as_str().unwrap().starts_with("missing:"));
    // Optional rule: absent is fine, but a bad credential still fails.
    let m = run(
        &engine,
        &host,
        view(
            "GET",
            "https",
            "api.example.com",
            "/open",
            &[("x-service-id", "x")],
        ),
        b"",
    );
    assert_eq!(continued(&m).remove, vec!["x-service-id".to_string()]);
    let bad = view(
        "GET",
        "https",
        "api.example.com",
        "/open",
        &[("x-service-token", "a:b:1:00")],
    );
    assert_eq!(denied(&run(&engine, &host, bad, b"")).0, 401);
    // A rule without service_auth still strips forged identities.
    let m = run(
        &engine,
        &host,
        view(
            "GET",
            "https",
            "api.example.com",
            "/public",
            &[("x-service-id", "x")],
        ),
        b"",
    );
    assert_eq!(continued(&m).remove, vec!["x-service-id".to_string()]);
    assert!(continued(&m).set.is_empty());
}

#[test]
fn allowed_services_gate_is_403() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW);
    let req = view("GET", "https", "api.example.com", "/admin/users", &[]);
    let hmac = signed(
        req.clone(),
        None,
        &hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, None),
    );
    let (status, reason, _) = denied(&run(&engine, &host, hmac, b""));
    assert_eq!((status, reason), (403, "service_not_allowed"));
    let ed = SignSpec {
        keyid: "ed".into(),
        key: SigningKey::Ed25519(ed_seed()),
        tag: Some("edge".into()),
        ..hmac_spec(b"", GET_COMPONENTS, None)
    };
    let m = run(&engine, &host, signed(req, None, &ed), b"");
    assert_eq!(
        continued(&m).set,
        vec![("x-service-id".to_string(), "doc-agent".to_string())]
    );
}

#[test]
fn service_tokens_python_isoformat_target_and_replay() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW + 10);
    let ts = service_token::python_utc_isoformat(NOW * 1_000_000_000 + 123_456_000);
    assert_eq!(ts, "2026-11-23T12:00:00.123456");
    let tok = make_service_token("call-assistant", "email-router", &ts, b"tok-secret");
    let req = |path: &str, t: &str| {
        view(
            "GET",
            "https",
            "api.example.com",
            path,
            &[("x-service-token", t)],
        )
    };
    let m = run(&engine, &host, req("/x", &tok), b"");
    assert_eq!(
        continued(&m).set,
        vec![("x-service-id".to_string(), "call-assistant".to_string())]
    );
    assert_eq!(host.metric("edgeguard_service_auth_ok_token_total"), 1);
    // replay_protection is on for tokens.
    assert_eq!(
        denied(&run(&engine, &host, req("/x", &tok), b"")).1,
        "service_auth_replayed"
    );
    // The /tok rule expects target "billing".
    let fresh = make_service_token(
        "call-assistant",
        "email-router",
        "1795435201",
        b"tok-secret",
    );
    assert_eq!(
        denied(&run(&engine, &host, req("/tok", &fresh), b"")).1,
        "service_token_wrong_target"
    );
    let billing = make_service_token("call-assistant", "billing", "1795435201", b"tok-secret");
    continued(&run(&engine, &host, req("/tok", &billing), b""));
    // Distinct reasons.
    for (token, want) in [
        (
            make_service_token("ghost", "email-router", "1795435202", b"tok-secret"),
            "service_token_unknown_service",
        ),
        (
            make_service_token("call-assistant", "email-router", "1795435202", b"wrong"),
            "service_token_bad_signature",
        ),
        (
            "call-assistant:email-router:1795435202:nothex".to_string(),
            "service_token_bad_hex",
        ),
        (
            make_service_token(
                "call-assistant",
                "email-router",
                "1795434000",
                b"tok-secret",
            ),
            "service_token_expired",
        ),
        (
            make_service_token(
                "call-assistant",
                "email-router",
                "1795436000",
                b"tok-secret",
            ),
            "service_token_future",
        ),
    ] {
        let (status, reason, body) = denied(&run(&engine, &host, req("/x", &token), b""));
        assert_eq!((status, reason), (401, want));
        assert!(!body.to_string().contains("tok-secret"));
    }
    // The signature-only... tokens-only rule ignores message signatures.
    let sig = signed(
        view("GET", "https", "api.example.com", "/tok", &[]),
        None,
        &hmac_spec(ENV_SECRET.as_bytes(), GET_COMPONENTS, None),
    );
    assert_eq!(
        denied(&run(&engine, &host, sig, b"")).1,
        "service_auth_missing"
    );
}

#[test]
fn config_errors_name_the_path() {
    let cases = [
        (
            r#"{"service_auth":{"keys":{"k":{"alg":"hmac-sha256","secrets":[{"env":"EDGEGUARD_TEST_SURELY_UNSET"}]}}}}"#,
            "service_auth.keys.k.secrets[0].env",
        ),
        (
            r#"{"service_auth":{"keys":{"k":{"alg":"hmac-sha256"}}}}"#,
            "service_auth.keys.k.secrets",
        ),
        (
            r#"{"service_auth":{"keys":{"k":{"alg":"hs256","secrets":["x"]}}}}"#,
            "service_auth.keys.k.alg",
        ),
        (
            r#"{"service_auth":{"keys":{"k":{"alg":"ed25519","public_keys":["AAAA"]}}}}"#,
            "service_auth.keys.k.public_keys[0]",
        ),
        (
            r#"{"service_auth":{"policy":{"required_components":["@status"]}}}"#,
            "service_auth.policy.required_components[0]",
        ),
        (
            r#"{"rules":[{"match":{"prefix":"/"},"service_auth":{}}]}"#,
            "rules[0].service_auth",
        ),
        (
            r#"{"service_auth":{"keys":{"k":{"alg":"hmac-sha256","secrets":["x"]}}},"rules":[{"match":{"prefix":"/"},"service_auth":{"kinds":["service_token"]}}]}"#,
            "rules[0].service_auth.kinds[0]",
        ),
        (
            r#"{"service_auth":{},"rules":[{"match":{"prefix":"/"},"service_auth":{}}]}"#,
            "rules[0].service_auth",
        ),
        (
            r#"{"service_auth":{"service_tokens":{"services":{"a":{"secrets":["x"]}}}},"rules":[{"match":{"prefix":"/"},"service_auth":{}}]}"#,
            "rules[0].service_auth.target_service",
        ),
        (
            r#"{"service_auth":{"service_tokens":{"services":{"a:b":{"secrets":["x"]}}}}}"#,
            "service_auth.service_tokens.services.a:b",
        ),
    ];
    for (json, path) in cases {
        let err = Engine::from_json(json.as_bytes()).unwrap_err();
        assert_eq!(err.path, path, "{json}: {err}");
    }
}

// ---------- interop with the PyPI library `http-message-signatures` ----------

/// Run `sign_with_python.py`; `None` (with a printed reason) when python or the package
/// is missing.
fn python_sign(args: &[&str]) -> Option<Value> {
    let script = testdata("sign_with_python.py");
    let out = match std::process::Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("SKIP python interop: cannot run python3: {e}");
            return None;
        }
    };
    if out.status.code() == Some(3) {
        println!(
            "SKIP python interop: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    assert!(
        out.status.success(),
        "signer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Turn the Python output into a request view (scheme, authority and path from the URL).
fn python_view(signed: &Value) -> (RequestView, Vec<u8>) {
    let url = signed["url"].as_str().unwrap();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let headers: Vec<(String, String)> = signed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_string(),
                h[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let body = signed["body"].as_str().unwrap_or("").as_bytes().to_vec();
    let view = RequestView::new(
        signed["method"].as_str().unwrap(),
        scheme,
        authority,
        path,
        headers,
        ConnectionInfo::default(),
    )
    .unwrap();
    (view, body)
}

fn interop_engine() -> Engine {
    let vk = ed25519_dalek::SigningKey::from_bytes(&ed_seed()).verifying_key();
    let cfg = serde_json::json!({
        "service_auth": {
            "policy": {"replay_protection": false},
            "keys": {
                "py-hmac": {"alg": "hmac-sha256", "service_id": "py-hmac",
                            "secrets": ["python shared secret"]},
                "py-ed": {"alg": "ed25519", "service_id": "py-ed",
                          "public_keys": [base64::engine::general_purpose::STANDARD.encode(vk.as_bytes())]}
            }
        },
        "rules": [{"match": {"prefix": "/"}, "service_auth": {}}]
    });
    Engine::from_json(cfg.to_string().as_bytes()).unwrap()
}

#[test]
fn python_signed_requests_verify_and_tampering_is_rejected() {
    let created = NOW.to_string();
    let dir = std::env::temp_dir().join(format!("edgeguard-py-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem_path = dir.join("ed25519.pem");
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&ed_seed());
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    std::fs::write(&pem_path, pem).unwrap();
    let pem_arg = pem_path.to_str().unwrap().to_string();

    let hmac_get = [
        "--alg",
        "hmac-sha256",
        "--key-id",
        "py-hmac",
        "--secret",
        "python shared secret",
        "--method",
        "GET",
        "--url",
        "https://api.example.com/orders?id=7&q=a+b",
        "--components",
        "@method,@authority,@path,@query,@target-uri,\"@query-param\";name=\"q\",x-tenant",
        "--header",
        "X-Tenant: acme",
        "--created",
        &created,
        "--nonce",
        "py-1",
    ];
    let hmac_post = [
        "--alg",
        "hmac-sha256",
        "--key-id",
        "py-hmac",
        "--secret",
        "python shared secret",
        "--method",
        "POST",
        "--url",
        "http://127.0.0.1:10000/send",
        "--header",
        "Content-Type: application/json",
        "--body",
        "{\"to\": \"a@b.c\"}",
        "--components",
        "@method,@authority,@path,content-type",
        "--created",
        &created,
    ];
    let ed_post = [
        "--alg",
        "ed25519",
        "--key-id",
        "py-ed",
        "--private-key-pem",
        &pem_arg,
        "--method",
        "PUT",
        "--url",
        "https://svc.internal:8443/docs/1",
        "--header",
        "Content-Type: text/plain",
        "--body",
        "hello",
        "--components",
        "@method,@authority,@path,@scheme,@request-target,\"content-type\";sf,content-length",
        "--created",
        &created,
        "--tag",
        "edge",
    ];
    let mut ran = 0;
    for args in [&hmac_get[..], &hmac_post[..], &ed_post[..]] {
        let Some(signed) = python_sign(args) else {
            return;
        };
        ran += 1;
        let engine = interop_engine();
        let host = MemoryHost::at(NOW + 3);
        let (req, body) = python_view(&signed);
        let want = if args.contains(&"py-ed") {
            "py-ed"
        } else {
            "py-hmac"
        };
        let m = run(&engine, &host, req.clone(), &body);
        assert_eq!(
            continued(&m).set,
            vec![("x-service-id".to_string(), want.to_string())],
            "{signed}"
        );
        // Tampering with method, path, authority, a covered header or the body fails.
        let mut t = req.clone();
        t.method = "DELETE".into();
        assert_eq!(denied(&run(&engine, &host, t, &body)).0, 401, "method");
        let mut t = req.clone();
        t.raw_path = t.raw_path.replacen('/', "/x", 1);
        assert_eq!(denied(&run(&engine, &host, t, &body)).0, 401, "path");
        let mut t = req.clone();
        t.authority = "evil.example.com".into();
        assert_eq!(denied(&run(&engine, &host, t, &body)).0, 401, "authority");
        let covered_header = if args.contains(&"X-Tenant: acme") {
            "x-tenant"
        } else {
            "content-type"
        };
        let mut t = req.clone();
        for (k, v) in t.headers.iter_mut() {
            if k == covered_header {
                v.push('x');
            }
        }
        assert_eq!(denied(&run(&engine, &host, t, &body)).0, 401, "header");
        if !body.is_empty() {
            let mut b = body.clone();
            b[0] ^= 1;
            let (status, reason, _) = denied(&run(&engine, &host, req.clone(), &b));
            assert_eq!(status, 401, "body");
            assert_eq!(reason, "service_content_digest_invalid");
        }
    }
    assert_eq!(ran, 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deferred_body_check_verifies_signature_at_header_time() {
    let engine = test_engine();
    let host = MemoryHost::at(NOW);
    let body = br#"{"to":"a@b.c"}"#;
    let len = body.len().to_string();
    let base = view(
        "POST",
        "https",
        "api.example.com",
        "/send",
        &[
            ("content-type", "application/json"),
            ("content-length", &len),
        ],
    );
    let auth = &engine.service_auth;
    let policy = auth.rule_policy(4).unwrap();
    let mut identity = crate::engine::Identity::default();
    let mut upstream = HeaderMutations::default();
    let mut check = |req: &RequestView| {
        let ctx = RequestContext {
            req,
            rule: Some(4),
            rule_name: "svc",
            host: &host,
            client_ip: None,
            identity: &mut identity,
            upstream: &mut upstream,
            body: None,
        };
        auth.verify_deferring_body(&ctx, policy)
    };
    let good = signed(
        base.clone(),
        Some(body),
        &hmac_spec(ENV_SECRET.as_bytes(), POST_COMPONENTS, Some("d1")),
    );
    let (id, pending) = check(&good).unwrap();
    assert_eq!(id.service_id, "call-assistant");
    let pending = pending.expect("a body check is left");
    assert_eq!(pending.check(body), Ok(()));
    assert!(matches!(
        pending.check(b"{}"),
        Err(ServiceAuthFailure::Digest(_))
    ));
    assert_eq!(
        pending.check(&[b'a'; 65]),
        Err(ServiceAuthFailure::BodyTooLarge)
    );
    // A bad signature fails at header time, before any body.
    let bad = signed(
        base,
        Some(body),
        &hmac_spec(b"wrong", POST_COMPONENTS, Some("d2")),
    );
    assert_eq!(
        check(&bad).unwrap_err(),
        ServiceAuthFailure::Signature(SigError::BadSignature)
    );
}
