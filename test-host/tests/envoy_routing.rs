//! Requests through real Envoy (2 workers): rules route on the normalized path, malformed
//! paths are refused in enforce mode and let through but counted in report mode, and bodies
//! and responses pass the filter intact.

use edgeguard_test_host::echo::CASE_HEADER;
use edgeguard_test_host::envoy::stack::FilterStack;
use edgeguard_test_host::http::{HttpRequest, HttpResponse};

fn get(path: &str, case: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        authority: "api.example.com".into(),
        scheme: "http".into(),
        headers: vec![(CASE_HEADER.into(), case.into())],
        ..HttpRequest::default()
    }
}

fn json(resp: &HttpResponse) -> serde_json::Value {
    serde_json::from_slice(&resp.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&resp.body)))
}

const ADMIN_RULES: &str = r#"{
  "rules": [
    {"name": "admin", "match": {"prefix": "/admin"}},
    {"name": "api", "match": {"prefix": "/api/", "methods": ["GET", "POST"]}}
  ]
}"#;

/// Every request is counted exactly once across both workers, and path tricks are forwarded
/// as sent (edgeguard matches on a normalized copy; it does not rewrite the path).
#[test]
fn requests_are_counted_once_and_forwarded_unchanged() {
    let stack = FilterStack::start(ADMIN_RULES).unwrap();
    let paths = [
        "/admin",
        "/%61dmin",
        "//admin",
        "/x/../admin",
        "/api/items?x=1",
    ];
    for (i, p) in paths.iter().enumerate() {
        let case = format!("fwd-{i}");
        let resp = stack.envoy.send(&get(p, &case)).unwrap();
        assert_eq!(
            resp.status,
            200,
            "{p}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let seen = stack.echo.requests(&case);
        assert_eq!(seen.len(), 1, "{p} reached the upstream once");
        assert_eq!(seen[0].path, *p);
        assert_eq!(json(&resp)["path"], *p);
    }
    assert_eq!(
        stack.envoy.metric("edgeguard_requests_total").unwrap(),
        paths.len() as u64
    );
    assert_eq!(stack.envoy.metric("edgeguard_denied_total").unwrap(), 0);
}

/// A path with an invalid percent-escape cannot be normalized: 400 from edgeguard's one
/// local-reply path, never forwarded, counted as denied.
#[test]
fn malformed_path_is_refused_in_enforce_mode() {
    let stack = FilterStack::start(ADMIN_RULES).unwrap();
    let resp = stack.envoy.send(&get("/a%zz", "bad")).unwrap();
    assert_eq!(resp.status, 400);
    let body = json(&resp);
    assert_eq!(body["error"], "request path has invalid percent-encoding");
    assert_eq!(body["status"], 400);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(
        stack.echo.requests("bad").is_empty(),
        "must not reach the upstream"
    );
    assert_eq!(stack.envoy.metric("edgeguard_denied_total").unwrap(), 1);
    assert_eq!(
        stack
            .envoy
            .metric("edgeguard_denied_bad_request_total")
            .unwrap(),
        1
    );
    assert_eq!(stack.envoy.metric("edgeguard_reported_total").unwrap(), 0);
    let denials: Vec<serde_json::Value> = stack
        .envoy
        .wasm_logs()
        .iter()
        .filter_map(|(_, m)| serde_json::from_str::<serde_json::Value>(m).ok())
        .filter(|v| v["event"] == "denied")
        .collect();
    assert_eq!(denials.len(), 1, "one structured denial line: {denials:?}");
    assert_eq!(denials[0]["reason"], "bad_request");
    assert_eq!(denials[0]["status"], 400);
    assert_eq!(denials[0]["path"], "/a%zz");
}

/// `mode: report`: the would-be-denied request goes through untouched and is counted.
#[test]
fn report_mode_lets_a_would_be_denied_request_through_and_counts_it() {
    let config =
        r#"{"mode": "report", "rules": [{"name": "admin", "match": {"prefix": "/admin"}}]}"#;
    let stack = FilterStack::start(config).unwrap();
    let resp = stack.envoy.send(&get("/a%zz", "reported")).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(stack.echo.requests("reported").len(), 1);
    assert_eq!(stack.envoy.metric("edgeguard_reported_total").unwrap(), 1);
    assert_eq!(
        stack
            .envoy
            .metric("edgeguard_reported_bad_request_total")
            .unwrap(),
        1
    );
    assert_eq!(stack.envoy.metric("edgeguard_denied_total").unwrap(), 0);
    assert!(stack.envoy.logs().contains(r#""event":"would_deny""#));
}

/// Upstream status, headers and chunked bodies reach the client; chunked request bodies reach
/// the upstream whole.
#[test]
fn bodies_and_upstream_responses_pass_intact() {
    let stack = FilterStack::start(ADMIN_RULES).unwrap();
    stack.echo.script_chunked(
        "scripted",
        HttpResponse {
            status: 201,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-upstream".into(), "yes".into()),
            ],
            body: br#"{"id": 7, "note": "created"}"#.to_vec(),
        },
        vec![5, 5, 5],
    );
    let mut req = get("/api/items", "scripted");
    req.method = "POST".into();
    req.body = br#"{"name": "widget", "qty": 3}"#.to_vec();
    req.chunk_sizes = vec![1, 7, 3];
    let resp = stack.envoy.send(&req).unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(resp.header("x-upstream"), Some("yes"));
    assert_eq!(resp.body, br#"{"id": 7, "note": "created"}"#);
    let seen = stack.echo.requests("scripted");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, req.body);
    assert_eq!(seen[0].method, "POST");
}

/// The `/admin` rule (API key required) must catch `/%61dmin`, `//admin` and `/x/../admin`
/// as well: each is refused with 401 and never reaches the upstream.
#[test]
fn admin_rule_catches_path_normalization_attacks() {
    // No request carries a key, so the digest value does not matter here.
    let config = r#"{
      "api_keys": {"keys": [{"name": "ops",
        "hash": "0000000000000000000000000000000000000000000000000000000000000000"}]},
      "rules": [
        {"name": "admin", "match": {"prefix": "/admin"}, "api_key": {"required": true}},
        {"name": "public", "match": {"prefix": "/"}}
      ]
    }"#;
    let stack = FilterStack::start(config).unwrap();
    for (i, p) in [
        "/admin",
        "/%61dmin",
        "//admin",
        "/x/../admin",
        "/admin/../admin/x",
    ]
    .iter()
    .enumerate()
    {
        let case = format!("attack-{i}");
        let resp = stack.envoy.send(&get(p, &case)).unwrap();
        assert_eq!(resp.status, 401, "{p} slipped past the admin rule");
        assert!(stack.echo.requests(&case).is_empty());
    }
    let resp = stack.envoy.send(&get("/public", "ok")).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(stack.echo.requests("ok").len(), 1);
}
