//! Shared helpers for the request-policy integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::decision::{HeaderMutations, LocalReply, RequestAction};
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};

/// 2026-01-01T00:00:00Z.
pub const NOW: u64 = 1_767_225_600;

pub fn engine(json: &str) -> Engine {
    Engine::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestView {
    req_on(
        "https",
        "api.example.com",
        method,
        path,
        headers,
        ConnectionInfo::default(),
    )
}

pub fn req_on(
    scheme: &str,
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    conn: ConnectionInfo,
) -> RequestView {
    RequestView::new(
        method,
        scheme,
        authority,
        path,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        conn,
    )
    .unwrap()
}

/// Run the request headers through a fresh stream; returns the action and the stream.
pub fn run(engine: &Engine, host: &MemoryHost, view: RequestView) -> (RequestAction, Stream) {
    let mut s = Stream::default();
    let a = engine.on_request_headers(&mut s, view, host);
    (a, s)
}

pub fn expect_continue(a: RequestAction) -> HeaderMutations {
    match a {
        RequestAction::Continue(m) => m,
        other => panic!("expected Continue, got {other:?}"),
    }
}

pub fn expect_reply(a: RequestAction) -> LocalReply {
    match a {
        RequestAction::Respond(r) => r,
        other => panic!("expected a local reply, got {other:?}"),
    }
}

pub fn body_json(r: &LocalReply) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// Every log line, parsed.
pub fn log_lines(host: &MemoryHost) -> Vec<serde_json::Value> {
    host.logs
        .borrow()
        .iter()
        .map(|(_, m)| serde_json::from_str(m).unwrap())
        .collect()
}

/// The log lines whose `event` is `name`.
pub fn events(host: &MemoryHost, name: &str) -> Vec<serde_json::Value> {
    log_lines(host)
        .into_iter()
        .filter(|l| l["event"] == name)
        .collect()
}

pub fn header<'a>(m: &'a HeaderMutations, name: &str) -> Option<&'a str> {
    m.set
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
