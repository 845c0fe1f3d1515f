//! edgeguard against Envoy's native `jwt_authn`, in one real Envoy: one listener runs the
//! native filter, the other the edgeguard module, both configured from the *same* jwt_authn
//! JSON and both forwarding to the echo upstream. Every corpus request goes to both; status,
//! `WWW-Authenticate` and body must be identical.
//!
//! The corpus (every algorithm valid; expired; not yet valid; exp/nbf exactly at and one second
//! past the clock skew; wrong issuer and audience; unknown kid; tampered payload and signature;
//! `alg: none`; RS256→HS256 key confusion; ES256 r=s=0; empty signature; bad base64 and JSON;
//! duplicate tokens; param and cookie tokens; an oversized token; no token; `crit` headers;
//! `require_expiration` and `max_lifetime` around their limits; a `requires_any` whose
//! requirements all fail) is generated at test
//! time by `filter/src/jwt/corpus.rs`, so the boundary cases refer to the clock Envoy reads.
//! Skipped (with a message) when no Envoy binary is installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use edgeguard_test_host::envoy::bootstrap::UPSTREAM_CLUSTER;
use edgeguard_test_host::envoy::client::send_to;
use edgeguard_test_host::envoy::stack::FilterStack;
use edgeguard_test_host::envoy::{self, EnvoyOptions};
use edgeguard_test_host::http::{HttpRequest, HttpResponse};
use edgeguard_test_host::paths;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Command;

const NATIVE_LISTENER: &str = "native_jwt_authn";

/// Generate the corpus now (fresh keys and times) into a temporary file and read it.
fn fresh_corpus() -> Value {
    let out = std::env::temp_dir().join(format!("edgeguard-corpus-{}.json", std::process::id()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(paths::workspace_root())
        .args([
            "test",
            "-q",
            "-p",
            "edgeguard",
            "--lib",
            "write_differential_corpus",
            "--",
            "--ignored",
        ])
        .env("EDGEGUARD_CORPUS_NOW", now.to_string())
        .env("EDGEGUARD_CORPUS_OUT", &out)
        .status()
        .unwrap();
    assert!(status.success(), "generating the corpus failed");
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    doc
}

/// A listener with Envoy's native jwt_authn filter configured from `section`.
fn native_listener(section: &Value) -> Value {
    let mut jwt = section.clone();
    jwt["@type"] =
        json!("type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication");
    json!({
        "name": NATIVE_LISTENER,
        "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
        "filter_chains": [{ "filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "native",
                "server_header_transformation": "PASS_THROUGH",
                "route_config": { "name": "native", "virtual_hosts": [{
                    "name": "all", "domains": ["*"],
                    "routes": [{ "match": { "prefix": "/" }, "route": { "cluster": UPSTREAM_CLUSTER } }]
                }]},
                "http_filters": [
                    { "name": "envoy.filters.http.jwt_authn", "typed_config": jwt },
                    { "name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }
                ]
            }
        }]}]
    })
}

/// What must agree between the two filters.
fn answer(r: &HttpResponse) -> (u16, Option<String>, String) {
    let www = r
        .headers
        .iter()
        .find(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| v.clone());
    // A 200 is the echo upstream's answer, which names each listener's own headers: compare
    // only that both let the request through.
    let body = if r.status == 200 {
        String::new()
    } else {
        String::from_utf8_lossy(&r.body).into_owned()
    };
    (r.status, www, body)
}

fn request_of(case: &Value) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: case["path"].as_str().unwrap().to_string(),
        authority: "localhost".into(),
        scheme: "http".into(),
        headers: case["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_string(),
                    h[1].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        ..HttpRequest::default()
    }
}

#[test]
fn edgeguard_answers_exactly_like_native_jwt_authn() {
    if let Err(e) = envoy::envoy_binary() {
        eprintln!("skipping: {e}");
        return;
    }
    paths::build_filter_wasm().unwrap();
    let corpus = fresh_corpus();
    let section = corpus["jwt_authn"].clone();
    let stack = FilterStack::start_with(EnvoyOptions {
        plugin_config: json!({ "jwt_authn": section }).to_string(),
        extra_listeners: vec![native_listener(&section)],
        ..EnvoyOptions::default()
    })
    .unwrap();
    let ours: SocketAddr = stack.envoy.listener_addr();
    let native = stack.envoy.listener_addr_named(NATIVE_LISTENER).unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    let mut differing = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let req = request_of(case);
        let mut pair = (
            answer(&send_to(native, &req).unwrap()),
            answer(&send_to(ours, &req).unwrap()),
        );
        if pair.0 != pair.1 && name.contains("skew") {
            // An exp/nbf boundary case straddled a second tick between the two sends: once more.
            pair = (
                answer(&send_to(native, &req).unwrap()),
                answer(&send_to(ours, &req).unwrap()),
            );
        }
        if pair.0 != pair.1 {
            differing.push(format!(
                "{name}:\n    native:    {:?}\n    edgeguard: {:?}",
                pair.0, pair.1
            ));
        }
    }
    println!(
        "jwt_authn differential: {} cases compared, {} identical",
        cases.len(),
        cases.len() - differing.len()
    );
    assert!(cases.len() >= 35, "the corpus went missing");
    assert!(
        differing.is_empty(),
        "edgeguard differs from native jwt_authn:\n{}",
        differing.join("\n")
    );
}
