//! `edgeguard hash-key` and `edgeguard sign` produce credentials the filter accepts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::decision::RequestAction;
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};
use std::process::Command;

fn edgeguard(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgeguard"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "edgeguard {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn headers_of(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

const SECRET: &str = "cli-test-signing-secret";

fn service_auth_engine() -> Engine {
    let cfg = serde_json::json!({
        "service_auth": {
            "service_name": "email-router",
            "keys": {"k1": {"alg": "hmac-sha256", "service_id": "call-assistant", "secrets": [SECRET]}},
            "service_tokens": {"services": {"call-assistant": {"secrets": [SECRET]}}}
        },
        "rules": [{"match": {"prefix": "/internal"}, "service_auth": {"required": true, "target_service": "email-router"}}]
    });
    Engine::from_json(cfg.to_string().as_bytes()).unwrap()
}

fn decide(
    engine: &Engine,
    headers: Vec<(String, String)>,
    body: Option<&[u8]>,
    now: u64,
) -> RequestAction {
    let host = MemoryHost::at(now);
    let view = RequestView::new(
        "POST",
        "https",
        "edge.example.com",
        "/internal/send",
        headers,
        ConnectionInfo::default(),
    )
    .unwrap();
    let mut stream = Stream::default();
    match engine.on_request_headers(&mut stream, view, &host) {
        RequestAction::NeedBody => {
            engine.on_request_body(&mut stream, body.unwrap_or_default(), true, &host)
        }
        other => other,
    }
}

#[test]
fn hash_key_matches_sha256_of_the_key() {
    let out = edgeguard(
        &["hash-key", "--key-env", "EG_TEST_KEY"],
        &[("EG_TEST_KEY", "abc")],
    );
    assert_eq!(
        out.trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn signed_request_verifies_and_a_tampered_body_does_not() {
    let created = "1790000000";
    let out = edgeguard(
        &[
            "sign",
            "signature",
            "--key-id",
            "k1",
            "--secret-env",
            "EG_SECRET",
            "--request",
            "POST /internal/send",
            "--authority",
            "edge.example.com",
            "--body",
            "{\"to\":\"a\"}",
            "--created",
            created,
            "--nonce",
            "n-1",
        ],
        &[("EG_SECRET", SECRET)],
    );
    let headers = headers_of(&out);
    assert!(headers.iter().any(|(k, _)| k == "content-digest"));
    let engine = service_auth_engine();
    let ok = decide(
        &engine,
        headers.clone(),
        Some(b"{\"to\":\"a\"}"),
        1_790_000_010,
    );
    match ok {
        RequestAction::Continue(m) => assert!(
            m.set
                .iter()
                .any(|(k, v)| k == "x-service-id" && v == "call-assistant"),
            "{m:?}"
        ),
        other => panic!("signed request refused: {other:?}"),
    }
    let engine = service_auth_engine();
    let tampered = decide(&engine, headers, Some(b"{\"to\":\"b\"}"), 1_790_000_010);
    assert!(matches!(tampered, RequestAction::Respond(r) if r.status == 401));
}

#[test]
fn service_token_verifies() {
    let out = edgeguard(
        &[
            "sign",
            "token",
            "--key-id",
            "call-assistant",
            "--target",
            "email-router",
            "--secret-env",
            "EG_SECRET",
        ],
        &[("EG_SECRET", SECRET)],
    );
    let headers = headers_of(&out);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let action = decide(&service_auth_engine(), headers, None, now);
    assert!(matches!(action, RequestAction::Continue(_)), "{action:?}");
}
