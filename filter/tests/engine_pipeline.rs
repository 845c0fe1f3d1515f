//! The engine's own pipeline behaviour: local reply shape, report mode, metrics and logs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::decision::RequestAction;
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{normalize_path, ConnectionInfo, RequestView};

fn view(path: &str) -> RequestView {
    RequestView::new(
        "GET",
        "https",
        "api.example.com",
        path,
        vec![("x-request-id".into(), "req-1".into())],
        ConnectionInfo::default(),
    )
    .unwrap()
}

#[test]
fn allowed_request_continues_and_is_counted() {
    let engine = Engine::from_json(br#"{"rules":[{"match":{"prefix":"/"}}]}"#).unwrap();
    let host = MemoryHost::at(1_700_000_000);
    let mut s = Stream::default();
    let action = engine.on_request_headers(&mut s, view("/x"), &host);
    assert!(matches!(action, RequestAction::Continue(m) if m.is_empty()));
    assert_eq!(host.metric("edgeguard_requests_total"), 1);
    assert_eq!(s.rule, Some(0));
}

#[test]
fn malformed_path_is_a_json_400_with_a_log_line() {
    let engine = Engine::from_json(b"{}").unwrap();
    let host = MemoryHost::at(1_700_000_000);
    let mut s = Stream::default();
    let err = normalize_path("/a%zz").unwrap_err();
    let action = engine.on_malformed_request(&mut s, "GET", "/a%zz", err, &host);
    let RequestAction::Respond(reply) = action else {
        panic!("expected a local reply")
    };
    assert_eq!(reply.status, 400);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "request path has invalid percent-encoding", "status": 400})
    );
    assert!(reply
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/json"));
    assert_eq!(host.metric("edgeguard_denied_total"), 1);
    assert_eq!(host.metric("edgeguard_denied_bad_request_total"), 1);
    let log = host.log_text();
    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["event"], "denied");
    assert_eq!(line["reason"], "bad_request");
    assert_eq!(line["status"], 400);
}

#[test]
fn report_mode_lets_a_would_be_denial_through_and_counts_it() {
    let engine = Engine::from_json(br#"{"mode":"report"}"#).unwrap();
    let host = MemoryHost::at(1_700_000_000);
    let mut s = Stream::default();
    let err = normalize_path("/a%zz").unwrap_err();
    let action = engine.on_malformed_request(&mut s, "GET", "/a%zz", err, &host);
    assert!(matches!(action, RequestAction::Continue(m) if m.is_empty()));
    assert_eq!(host.metric("edgeguard_denied_total"), 0);
    assert_eq!(host.metric("edgeguard_reported_total"), 1);
    assert_eq!(host.metric("edgeguard_reported_bad_request_total"), 1);
    assert!(host.log_text().contains("\"event\":\"would_deny\""));
}
