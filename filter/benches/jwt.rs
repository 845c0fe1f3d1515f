//! Verify cost per algorithm through the whole engine (request headers → decision), natively:
//! cache miss (verified-token cache disabled) and cache hit (same token again).
//! Run: `cargo bench -p edgeguard --bench jwt`. Plain `std::time::Instant` timing, median of 5 runs.
//! Tokens and keys: `testdata/bench/jwt/fixtures.json` (written by `gen.py` there).
//!
//! Instruction counts: `EDGEGUARD_JWT_PROFILE=ES256:hit:1000` runs only that case, that many
//! requests, untimed, so that `valgrind --tool=callgrind` on the bench binary shows where a
//! request's instructions go (divide by the count; the engine build is in the total once).

// Benchmark tooling, like tests: a failed setup should stop the run loudly.
#![allow(clippy::unwrap_used)]

use edgeguard::decision::RequestAction;
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

/// The bench files' clock (`testdata/bench/jwt/gen.py`): tokens are valid at this time.
const NOW: u64 = 1_800_000_060;

/// (alg, token, jwk) for every algorithm, from the same fixtures as the wasm bench files.
fn setups() -> Vec<(String, String, serde_json::Value)> {
    let fixtures: serde_json::Value =
        serde_json::from_str(include_str!("../../testdata/bench/jwt/fixtures.json")).unwrap();
    fixtures
        .as_object()
        .unwrap()
        .iter()
        .map(|(alg, f)| {
            (
                alg.clone(),
                f["token"].as_str().unwrap().to_string(),
                f["jwk"].clone(),
            )
        })
        .collect()
}

fn engine(jwk: &serde_json::Value, cache: u32) -> Engine {
    let cfg = json!({"jwt_authn": {"providers": {"idp": {
        "issuer": "https://idp.example.com", "audiences": ["api"],
        "local_jwks": {"inline_string": json!({"keys": [jwk]}).to_string()},
        "jwt_cache_config": {"jwt_cache_size": cache},
        "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}]}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]}});
    Engine::from_json(cfg.to_string().as_bytes()).unwrap()
}

/// The benchmarked request: `GET /api/x` with these headers.
fn request(headers: &[(String, String)]) -> RequestView {
    RequestView::new(
        "GET",
        "https",
        "api.example.com",
        "/api/x",
        headers.to_vec(),
        ConnectionInfo::default(),
    )
    .unwrap()
}

fn per_request_ns(e: &Engine, host: &MemoryHost, token: &str, iters: u32) -> f64 {
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iters {
            let a =
                e.on_request_headers(&mut Stream::default(), black_box(request(&headers)), host);
            assert!(matches!(a, RequestAction::Continue(_)));
        }
        runs.push(start.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    runs.sort_by(|a, b| a.total_cmp(b));
    runs[2]
}

/// `ALG:hit|miss:N`: run one case N times without timing (for callgrind).
fn profile(spec: &str, host: &MemoryHost) {
    let mut parts = spec.split(':');
    let (alg, kind, n) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap().parse::<u32>().unwrap(),
    );
    let (_, token, jwk) = setups().into_iter().find(|(a, _, _)| a == alg).unwrap();
    let e = engine(&jwk, if kind == "hit" { 100 } else { 0 });
    // The first request fills the cache.
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
    e.on_request_headers(&mut Stream::default(), request(&headers), host);
    for _ in 0..n {
        let a = e.on_request_headers(&mut Stream::default(), black_box(request(&headers)), host);
        assert!(matches!(a, RequestAction::Continue(_)));
    }
    println!("{alg} {kind}: {n} requests");
}

fn main() {
    let host = MemoryHost::at(NOW);
    if let Ok(spec) = std::env::var("EDGEGUARD_JWT_PROFILE") {
        return profile(&spec, &host);
    }
    println!("{:<6} {:>14} {:>14}", "alg", "miss µs/req", "hit µs/req");
    for (alg, token, jwk) in setups() {
        let miss_engine = engine(&jwk, 0);
        let hit_engine = engine(&jwk, 100);
        let slow = !alg.starts_with("HS");
        let miss = per_request_ns(&miss_engine, &host, &token, if slow { 200 } else { 5000 });
        let hit = per_request_ns(&hit_engine, &host, &token, 20_000);
        println!("{alg:<6} {:>14.2} {:>14.2}", miss / 1000.0, hit / 1000.0);
    }
}
