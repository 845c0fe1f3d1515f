//! Per-request cost of the request-policy stage (API key, CSRF, limits, mTLS), native.
//! Run: `cargo run --release -p edgeguard --example bench_request_policy`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::decision::RequestAction;
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};
use std::hint::black_box;
use std::time::Instant;

const KEY_HASH: &str = "4081f8ed5105bfb806af6f7c3e61f9be1182f867199d61c1e85ef8aad46e9966";

fn view(headers: &[(&str, &str)], conn: ConnectionInfo, method: &str, path: &str) -> RequestView {
    RequestView::new(
        method,
        "https",
        "api.example.com",
        path,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        conn,
    )
    .unwrap()
}

fn time(name: &str, engine: &Engine, req: &RequestView, n: u32) {
    let host = MemoryHost::at(1_767_225_600);
    let start = Instant::now();
    for _ in 0..n {
        let mut s = Stream::default();
        let a = engine.on_request_headers(&mut s, black_box(req.clone()), &host);
        assert!(matches!(a, RequestAction::Continue(_)), "{name}: {a:?}");
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(n);
    println!("{name:<40} {per:>8.0} ns/request");
}

fn main() {
    let n = 200_000;
    let mut keys = vec![format!(
        r#"{{"name": "ci-bot", "hash": "{KEY_HASH}", "permissions": ["messages:read"]}}"#
    )];
    for i in 0..999 {
        keys.push(format!(
            r#"{{"name": "k{i}", "hash": "{}"}}"#,
            edgeguard::api_key::hash::hash_key(&format!("key-{i}"), None)
        ));
    }
    let config = format!(
        r#"{{"api_keys": {{"keys": [{}]}},
        "rules": [
          {{"name": "baseline", "match": {{"prefix": "/base"}}}},
          {{"name": "key", "match": {{"prefix": "/key"}}, "api_key": {{"required": true}}}},
          {{"name": "csrf", "match": {{"prefix": "/csrf"}}, "csrf": {{"allowed_origins": ["https://app.example.com"]}}}},
          {{"name": "limits", "match": {{"prefix": "/limits"}}, "limits": {{"methods": ["POST"], "max_url_length": 2048,
             "max_header_count": 64, "max_header_bytes": 16384, "reject_encoded_traversal": true,
             "content_types": ["application/json"], "max_body_bytes": 1048576}}}},
          {{"name": "mtls", "match": {{"prefix": "/mtls"}}, "mtls": {{"allowed_sans": [{{"prefix": "spiffe://cluster.local/ns/prod/"}}]}}}}
        ]}}"#,
        keys.join(",")
    );
    let engine = Engine::from_json(config.as_bytes()).unwrap();
    let browser = [
        ("origin", "https://app.example.com"),
        ("sec-fetch-site", "same-site"),
        ("content-type", "application/json"),
        ("content-length", "120"),
        ("cookie", "session=abc"),
        ("user-agent", "Mozilla/5.0"),
    ];
    let c = ConnectionInfo::default();
    time(
        "baseline (rule match only)",
        &engine,
        &view(&browser, c.clone(), "POST", "/base/x"),
        n,
    );
    time(
        "api key (sha256, 1000 keys)",
        &engine,
        &view(
            &[("x-api-key", "eg_live_ci_0001")],
            c.clone(),
            "GET",
            "/key/x",
        ),
        n,
    );
    time(
        "csrf (same-site fetch)",
        &engine,
        &view(&browser, c.clone(), "POST", "/csrf/x"),
        n,
    );
    time(
        "limits (all checks, content-length)",
        &engine,
        &view(&browser, c, "POST", "/limits/x?a=1"),
        n,
    );
    let mtls = ConnectionInfo {
        mtls: true,
        uri_sans: vec!["spiffe://cluster.local/ns/prod/sa/orders".into()],
        ..ConnectionInfo::default()
    };
    time(
        "mtls (prefix allowlist)",
        &engine,
        &view(&[], mtls, "GET", "/mtls/x"),
        n,
    );
}
