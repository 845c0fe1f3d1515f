//! mTLS peer identity through the engine, with the connection properties a proxy adapter fills
//! from Envoy's `connection.mtls`, `connection.uri_san_peer_certificate` and
//! `connection.dns_san_peer_certificate`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::ConnectionInfo;

const CONFIG: &str = r#"{
    "rules": [
        {"name": "internal", "match": {"prefix": "/internal"},
         "mtls": {"allowed_sans": [
             {"prefix": "spiffe://cluster.local/ns/prod/"},
             {"san": "dns", "exact": "billing.internal.example.com"}]}},
        {"name": "any-client-cert", "match": {"prefix": "/partner"}, "mtls": {}},
        {"name": "open", "match": {"prefix": "/"}}
    ]}"#;

fn conn(mtls: bool, uri: Option<&str>, dns: Option<&str>) -> ConnectionInfo {
    ConnectionInfo {
        source_ip: Some("10.0.0.9".parse().unwrap()),
        mtls,
        uri_sans: uri.map(|s| vec![s.to_string()]).unwrap_or_default(),
        dns_sans: dns.map(|s| vec![s.to_string()]).unwrap_or_default(),
    }
}

fn get(path: &str, c: ConnectionInfo, headers: &[(&str, &str)]) -> edgeguard::request::RequestView {
    req_on("https", "api.example.com", "GET", path, headers, c)
}

#[test]
fn allowed_spiffe_id_goes_upstream_and_forged_header_is_replaced() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let id = "spiffe://cluster.local/ns/prod/sa/orders";
    let (a, _) = run(
        &e,
        &host,
        get(
            "/internal/jobs",
            conn(true, Some(id), None),
            &[("x-peer-identity", "spiffe://cluster.local/ns/prod/sa/admin")],
        ),
    );
    let m = expect_continue(a);
    assert_eq!(header(&m, "x-peer-identity"), Some(id));
    let mut headers = vec![("x-peer-identity".to_string(), "forged".to_string())];
    m.apply_to(&mut headers);
    assert_eq!(
        headers,
        vec![("x-peer-identity".to_string(), id.to_string())]
    );
}

#[test]
fn dns_san_match() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        get(
            "/internal/x",
            conn(true, None, Some("billing.internal.example.com")),
            &[],
        ),
    );
    assert_eq!(
        header(&expect_continue(a), "x-peer-identity"),
        Some("billing.internal.example.com")
    );
    let (a, _) = run(
        &e,
        &host,
        get(
            "/internal/x",
            conn(true, None, Some("billing.internal.example.com.evil")),
            &[],
        ),
    );
    assert_eq!(expect_reply(a).reason, "mtls_peer_not_allowed");
}

#[test]
fn refusals_are_403_with_distinct_reasons() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(&e, &host, get("/internal/x", conn(false, None, None), &[]));
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (403, "mtls_required"));
    assert_eq!(body_json(&r)["error"], "a client certificate is required");
    let (a, _) = run(
        &e,
        &host,
        get(
            "/internal/x",
            conn(true, Some("spiffe://cluster.local/ns/dev/sa/orders"), None),
            &[("x-request-id", "r-9")],
        ),
    );
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (403, "mtls_peer_not_allowed"));
    // A prefix match is on the whole string: `prod-2` is not under `prod/`.
    let (a, _) = run(
        &e,
        &host,
        get(
            "/internal/x",
            conn(true, Some("spiffe://cluster.local/ns/prod-2/sa/x"), None),
            &[],
        ),
    );
    assert_eq!(expect_reply(a).reason, "mtls_peer_not_allowed");
    assert_eq!(host.metric("edgeguard_denied_mtls_required_total"), 1);
    assert_eq!(
        host.metric("edgeguard_denied_mtls_peer_not_allowed_total"),
        2
    );
    let lines = events(&host, "request_policy_rejected");
    assert_eq!(
        lines[1]["detail"],
        "spiffe://cluster.local/ns/dev/sa/orders"
    );
    assert_eq!(lines[1]["request_id"], "r-9");
    assert_eq!(lines[1]["client_ip"], "10.0.0.9");
}

#[test]
fn empty_allowlist_accepts_any_client_certificate() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        get("/partner/x", conn(true, None, Some("acme-client")), &[]),
    );
    assert_eq!(
        header(&expect_continue(a), "x-peer-identity"),
        Some("acme-client")
    );
    let (a, _) = run(&e, &host, get("/partner/x", conn(false, None, None), &[]));
    assert_eq!(expect_reply(a).reason, "mtls_required");
}

#[test]
fn rules_without_mtls_ignore_the_connection_but_strip_the_header() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        get(
            "/open",
            conn(true, Some("spiffe://cluster.local/ns/prod/sa/x"), None),
            &[("x-peer-identity", "forged")],
        ),
    );
    let m = expect_continue(a);
    assert_eq!(header(&m, "x-peer-identity"), None);
    assert_eq!(m.remove, vec!["x-peer-identity".to_string()]);
}

#[test]
fn config_error() {
    let err = edgeguard::config::Config::from_json(
        br#"{"rules": [{"match": {"prefix": "/"}, "mtls": {"allowed_sans": [{"san": "ip", "exact": "1"}]}}]}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "rules[0].mtls.allowed_sans[0].san");
}
