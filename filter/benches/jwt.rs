//! Verify cost per algorithm through the whole engine (request headers → decision), natively:
//! cache miss (verified-token cache disabled) and cache hit (same token again).
//! Run: `cargo bench -p edgeguard --bench jwt`. Plain `std::time::Instant` timing, median of 5 runs.

// Benchmark tooling, like tests: a failed setup should stop the run loudly.
#![allow(clippy::unwrap_used)]

use ct_codecs::{Base64UrlSafeNoPadding, Encoder};
use edgeguard::decision::RequestAction;
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};
use jwt_simple::prelude::*;
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

const NOW: u64 = 1_800_000_000;

fn b64(b: &[u8]) -> String {
    Base64UrlSafeNoPadding::encode_to_string(b).unwrap_or_default()
}

fn claims() -> JWTClaims<NoCustomClaims> {
    let mut c = Claims::create(Duration::from_secs(0));
    c.issued_at = Some(UnixTimeStamp::from_secs(NOW));
    c.expires_at = Some(UnixTimeStamp::from_secs(NOW + 900));
    c.issuer = Some("https://idp.example.com".into());
    c.subject = Some("user-1".into());
    c.audiences = Some(Audiences::AsString("api".into()));
    c
}

/// (alg, token, jwk)
fn setups() -> Vec<(&'static str, String, serde_json::Value)> {
    let secret = [7u8; 64];
    let rsa = RS256KeyPair::generate(2048).unwrap();
    let der = rsa.to_der().unwrap();
    let comp = rsa.public_key().to_components();
    let rsa_jwk = json!({"kty": "RSA", "n": b64(&comp.n), "e": b64(&comp.e)});
    let es = ES256KeyPair::generate();
    let p = es.public_key().public_key().to_bytes_uncompressed();
    let es384 = ES384KeyPair::generate();
    let p384 = es384.public_key().public_key().to_bytes_uncompressed();
    let ed = Ed25519KeyPair::generate();
    vec![
        (
            "HS256",
            HS256Key::from_bytes(&secret)
                .authenticate(claims())
                .unwrap(),
            json!({"kty": "oct", "k": b64(&secret)}),
        ),
        (
            "HS512",
            HS512Key::from_bytes(&secret)
                .authenticate(claims())
                .unwrap(),
            json!({"kty": "oct", "k": b64(&secret)}),
        ),
        ("RS256", rsa.sign(claims()).unwrap(), rsa_jwk.clone()),
        (
            "PS256",
            PS256KeyPair::from_der(&der)
                .unwrap()
                .sign(claims())
                .unwrap(),
            rsa_jwk,
        ),
        (
            "ES256",
            es.sign(claims()).unwrap(),
            json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])}),
        ),
        (
            "ES384",
            es384.sign(claims()).unwrap(),
            json!({"kty": "EC", "crv": "P-384", "x": b64(&p384[1..49]), "y": b64(&p384[49..])}),
        ),
        (
            "EdDSA",
            ed.sign(claims()).unwrap(),
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&ed.public_key().to_bytes())}),
        ),
    ]
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

fn per_request_ns(e: &Engine, host: &MemoryHost, token: &str, iters: u32) -> f64 {
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iters {
            let req = RequestView::new(
                "GET",
                "https",
                "api.example.com",
                "/api/x",
                headers.clone(),
                ConnectionInfo::default(),
            )
            .unwrap();
            let a = e.on_request_headers(&mut Stream::default(), black_box(req), host);
            assert!(matches!(a, RequestAction::Continue(_)));
        }
        runs.push(start.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    runs.sort_by(|a, b| a.total_cmp(b));
    runs[2]
}

fn main() {
    let host = MemoryHost::at(NOW);
    println!("{:<6} {:>14} {:>14}", "alg", "miss µs/req", "hit µs/req");
    for (alg, token, jwk) in setups() {
        let miss_engine = engine(&jwk, 0);
        let hit_engine = engine(&jwk, 100);
        let slow = matches!(alg, "RS256" | "PS256" | "ES256" | "ES384" | "EdDSA");
        let miss = per_request_ns(&miss_engine, &host, &token, if slow { 200 } else { 5000 });
        let hit = per_request_ns(&hit_engine, &host, &token, 20_000);
        println!("{alg:<6} {:>14.2} {:>14.2}", miss / 1000.0, hit / 1000.0);
    }
}
