//! Cost of verifying one service credential through the whole engine (native).
//! Run: `cargo bench -p edgeguard --bench service_auth`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::decision::RequestAction;
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::host::Host as _;
use edgeguard::request::{ConnectionInfo, RequestView};
use edgeguard::service_auth::{
    make_service_token, service_token, sign_request, structured_fields, SignSpec, SigningKey,
};

const NOW: u64 = 1_795_435_200;
const SEED: [u8; 32] = [7; 32];

fn main() {
    divan::main();
}

fn engine(replay: bool) -> Engine {
    let vk = ed25519_dalek::SigningKey::from_bytes(&SEED).verifying_key();
    use base64::Engine as _;
    let cfg = serde_json::json!({
        "service_auth": {
            "service_name": "email-router",
            "policy": {"replay_protection": replay},
            "keys": {
                "h": {"alg": "hmac-sha256", "secrets": ["a-shared-secret-of-some-length"]},
                "e": {"alg": "ed25519", "public_keys": [base64::engine::general_purpose::STANDARD.encode(vk.as_bytes())]}
            },
            "service_tokens": {"replay_protection": replay,
                               "services": {"call-assistant": {"secrets": ["tok-secret"]}}}
        },
        "rules": [{"match": {"prefix": "/"}, "service_auth": {}}]
    });
    Engine::from_json(cfg.to_string().as_bytes()).unwrap()
}

fn request(
    method: &str,
    body: Option<&[u8]>,
    key: SigningKey,
    keyid: &str,
    nonce: Option<String>,
    created: u64,
) -> RequestView {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("user-agent".to_string(), "bench".to_string()),
    ];
    if let Some(b) = body {
        headers.push(("content-length".to_string(), b.len().to_string()));
    }
    let mut req = RequestView::new(
        method,
        "https",
        "api.example.com",
        "/v1/messages?limit=10",
        headers,
        ConnectionInfo::default(),
    )
    .unwrap();
    let mut components = vec![
        "@method".to_string(),
        "@authority".to_string(),
        "@path".to_string(),
        "@query".to_string(),
    ];
    if body.is_some() {
        components.push("content-digest".to_string());
    }
    let spec = SignSpec {
        label: "sig1".into(),
        keyid: keyid.into(),
        key,
        components,
        created: Some(created as i64),
        expires: None,
        nonce,
        tag: None,
        include_alg: true,
    };
    let added = sign_request(&req, body, &spec).unwrap();
    req.headers.extend(added);
    req
}

fn run(engine: &Engine, host: &MemoryHost, req: RequestView, body: &[u8]) {
    let mut s = Stream::default();
    let a = match engine.on_request_headers(&mut s, req, host) {
        RequestAction::NeedBody => engine.on_request_body(&mut s, body, true, host),
        a => a,
    };
    assert!(matches!(a, RequestAction::Continue(_)), "{a:?}");
}

#[divan::bench]
fn hmac_get(bencher: divan::Bencher) {
    let e = engine(false);
    let host = MemoryHost::at(NOW);
    let req = request(
        "GET",
        None,
        SigningKey::HmacSha256(b"a-shared-secret-of-some-length".to_vec()),
        "h",
        None,
        NOW,
    );
    bencher
        .with_inputs(|| req.clone())
        .bench_local_values(|r| run(&e, &host, r, b""));
}

/// 10 000 samples so the cache reaches its steady state (~3.3k live entries).
#[divan::bench(sample_count = 10000)]
fn hmac_get_with_replay_cache(bencher: divan::Bencher) {
    let e = engine(true);
    let host = MemoryHost::at(NOW);
    let mut n = 0u64;
    let key = SigningKey::HmacSha256(b"a-shared-secret-of-some-length".to_vec());
    bencher
        .with_inputs(|| {
            n += 1;
            // Steady state: the clock moves 1 s every 10 requests, so ~3.3k entries are live
            // (created + 300 s max age + 30 s skew) across the 16 shards.
            if n.is_multiple_of(10) {
                host.advance_secs(1);
            }
            request(
                "GET",
                None,
                key.clone(),
                "h",
                Some(format!("nonce-{n}")),
                host.now_secs(),
            )
        })
        .bench_local_values(|r| run(&e, &host, r, b""));
}

#[divan::bench(args = [1024, 16 * 1024])]
fn hmac_post_content_digest(bencher: divan::Bencher, size: usize) {
    let e = engine(false);
    let host = MemoryHost::at(NOW);
    let body = vec![b'a'; size];
    let req = request(
        "POST",
        Some(&body),
        SigningKey::HmacSha256(b"a-shared-secret-of-some-length".to_vec()),
        "h",
        None,
        NOW,
    );
    bencher
        .with_inputs(|| req.clone())
        .bench_local_values(|r| run(&e, &host, r, &body));
}

#[divan::bench]
fn ed25519_get(bencher: divan::Bencher) {
    let e = engine(false);
    let host = MemoryHost::at(NOW);
    let req = request("GET", None, SigningKey::Ed25519(SEED), "e", None, NOW);
    bencher
        .with_inputs(|| req.clone())
        .bench_local_values(|r| run(&e, &host, r, b""));
}

#[divan::bench]
fn service_token_python_isoformat(bencher: divan::Bencher) {
    let e = engine(false);
    let host = MemoryHost::at(NOW);
    let ts = service_token::python_utc_isoformat(NOW * 1_000_000_000 + 123_456_000);
    let tok = make_service_token("call-assistant", "email-router", &ts, b"tok-secret");
    let req = RequestView::new(
        "GET",
        "https",
        "api.example.com",
        "/v1/x",
        vec![("x-service-token".into(), tok)],
        ConnectionInfo::default(),
    )
    .unwrap();
    bencher
        .with_inputs(|| req.clone())
        .bench_local_values(|r| run(&e, &host, r, b""));
}

#[divan::bench]
fn no_credential_rule_passthrough(bencher: divan::Bencher) {
    // Baseline: the engine with the section configured, on a request it only strips.
    let e = Engine::from_json(br#"{"service_auth":{"keys":{"h":{"alg":"hmac-sha256","secrets":["x"]}}},"rules":[{"match":{"prefix":"/"}}]}"#).unwrap();
    let host = MemoryHost::at(NOW);
    let req = RequestView::new(
        "GET",
        "https",
        "api.example.com",
        "/v1/x",
        vec![],
        ConnectionInfo::default(),
    )
    .unwrap();
    bencher
        .with_inputs(|| req.clone())
        .bench_local_values(|r| run(&e, &host, r, b""));
}

#[divan::bench]
fn parse_signature_input_only() {
    let v = divan::black_box(
        r#"sig1=("@method" "@authority" "@path" "@query" "content-digest");created=1795435200;keyid="h";alg="hmac-sha256";nonce="abc""#,
    );
    divan::black_box(structured_fields::parse_dictionary(v).unwrap());
}
