//! The built edgeguard filter in the in-process host: it loads in strict mode (every import
//! provided), configures, logs, counts, ticks, answers local replies, and refuses bad configs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use edgeguard_test_host::http::{HttpRequest, HttpResponse};
use edgeguard_test_host::proxy::{FixedUpstream, Proxy, ProxyOptions};
use edgeguard_test_host::state::{PluginSettings, SharedHost};
use edgeguard_test_host::{paths, CompiledModule, HostError};
use std::sync::Arc;

fn module() -> Arc<CompiledModule> {
    let wasm = paths::build_filter_wasm().unwrap();
    Arc::new(CompiledModule::from_file(&wasm, true).unwrap())
}

fn options(config: &str, workers: usize) -> ProxyOptions {
    ProxyOptions {
        workers,
        settings: PluginSettings {
            plugin_config: config.as_bytes().to_vec(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn req(path: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        authority: "example.com".into(),
        scheme: "http".into(),
        ..Default::default()
    }
}

fn upstream() -> FixedUpstream {
    FixedUpstream(HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"{}".to_vec(),
    })
}

#[test]
fn filter_imports_are_all_provided_and_it_uses_abi_0_2_1() {
    let m = module();
    assert_eq!(m.abi_version, "proxy_abi_version_0_2_1");
    assert!(m.unknown_imports.is_empty());
    assert!(m
        .imports()
        .iter()
        .any(|i| i == "env.proxy_send_local_response"));
}

#[test]
fn empty_policy_passes_requests_and_counts_them_across_workers() {
    let mut p = Proxy::new(module(), options("{}", 2)).unwrap();
    for _ in 0..4 {
        let out = p.send(&req("/a"), &mut upstream()).unwrap();
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.response.status, 200);
    }
    assert_eq!(p.metric("edgeguard_requests_total"), Some(4));
    assert_eq!(p.metric("edgeguard_config_errors_total"), Some(0));
    let logs = p.shared().logs_snapshot();
    assert_eq!(
        logs.iter()
            .filter(|l| l.message.contains("\"event\":\"config_loaded\""))
            .count(),
        2,
        "one per worker VM"
    );
    assert_eq!(
        p.vm(0).unwrap().state().tick_period_ms,
        0,
        "no timer without periodic work (hosts such as Service Extensions have none)"
    );
}

#[test]
fn remote_jwks_asks_for_a_timer_that_runs_cleanly() {
    let config = r#"{"jwt_authn":{"providers":{"idp":{"issuer":"https://idp.example.com",
        "remote_jwks":{"http_uri":{"uri":"http://jwks.local/keys","cluster":"jwks","timeout":"1s"}}}}}}"#;
    let mut p = Proxy::new(module(), options(config, 1)).unwrap();
    assert_eq!(p.vm(0).unwrap().state().tick_period_ms, 1000);
    assert!(p.advance(5_000).is_empty(), "on_tick runs without errors");
}

#[test]
fn malformed_path_gets_the_standard_local_reply() {
    let mut p = Proxy::new(module(), options("{}", 1)).unwrap();
    let out = p.send(&req("/%zz"), &mut upstream()).unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.response.status, 400);
    assert!(out.upstream.is_none());
    let body: serde_json::Value = serde_json::from_slice(&out.response.body).unwrap();
    assert_eq!(body["status"], 400);
    assert_eq!(
        out.response.header("content-type"),
        Some("application/json")
    );
    assert_eq!(p.metric("edgeguard_denied_total"), Some(1));
}

#[test]
fn bad_config_refuses_to_start_and_logs_the_json_path() {
    let shared = Arc::new(SharedHost::default());
    let cfg = r#"{"rules":[{"match":{"prefix":"admin"}}]}"#;
    let err = Proxy::with_shared(module(), options(cfg, 1), shared.clone())
        .err()
        .unwrap();
    assert_eq!(
        err,
        HostError::StartRefused {
            callback: "proxy_on_configure".into()
        }
    );
    let logs = shared.logs_snapshot();
    assert!(
        logs.iter()
            .any(|l| l.message == "config error at rules[0].match.prefix: must start with \"/\""),
        "{logs:?}"
    );
    assert_eq!(shared.metric("edgeguard_config_errors_total"), Some(1));
}

#[test]
fn fuel_and_memory_are_measured() {
    let mut p = Proxy::new(module(), options("{}", 1)).unwrap();
    let out = p.send(&req("/a"), &mut upstream()).unwrap();
    assert!(out.fuel > 0);
    assert!(p.vm(0).unwrap().peak_memory >= 65536);
}
