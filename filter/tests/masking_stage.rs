//! The masking stage through the engine: request side, header decisions, chunked bodies,
//! trailers, oversize / compressed / malformed handling, and config errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::decision::{RequestAction, ResponseBodyAction};
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};

const SAMPLE: &str = include_str!("../../testdata/masking/users.json");
const SAMPLE_MASKED: &str = include_str!("../../testdata/masking/users.masked.json");

fn engine(masking: &str) -> Engine {
    let cfg = format!(
        r#"{{"masking":{masking},"rules":[
            {{"match":{{"prefix":"/api"}},"masking":true}},
            {{"match":{{"prefix":"/extra"}},"masking":{{"keys":{{"nickname":"partial"}}}}}},
            {{"match":{{"prefix":"/"}}}}]}}"#
    );
    Engine::from_json(cfg.as_bytes()).unwrap()
}

fn view(path: &str) -> RequestView {
    RequestView::new(
        "GET",
        "https",
        "api.example.com",
        path,
        vec![("accept-encoding".into(), "gzip, br".into())],
        ConnectionInfo::default(),
    )
    .unwrap()
}

/// Run a request on `path` and answer it with `headers`; returns the stream and whether the
/// body is buffered.
fn start(e: &Engine, host: &MemoryHost, path: &str, headers: &[(&str, &str)]) -> (Stream, bool) {
    let mut s = Stream::default();
    let a = e.on_request_headers(&mut s, view(path), host);
    assert!(matches!(a, RequestAction::Continue(_)));
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let r = e.on_response_headers(&mut s, &headers, host);
    if r.buffer_body {
        assert!(r.mutations.remove.iter().any(|h| h == "content-length"));
    }
    (s, r.buffer_body)
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json; charset=utf-8")];

/// Feed `body` in `chunks` (split offsets), the last with end_of_stream; return the final action.
fn feed(
    e: &Engine,
    host: &MemoryHost,
    s: &mut Stream,
    body: &[u8],
    splits: &[usize],
) -> ResponseBodyAction {
    let mut prev = 0;
    for &at in splits {
        let a = e.on_response_body(s, &body[prev..at], false, host);
        assert_eq!(a, ResponseBodyAction::Buffer);
        prev = at;
    }
    e.on_response_body(s, &body[prev..], true, host)
}

fn replaced(a: ResponseBodyAction) -> String {
    match a {
        ResponseBodyAction::Replace(b) => String::from_utf8(b).unwrap(),
        other => panic!("expected Replace, got {other:?}"),
    }
}

#[test]
fn masked_route_drops_accept_encoding_and_unmasked_route_does_not() {
    let e = engine("{}");
    let host = MemoryHost::at(1_700_000_000);
    let mut s = Stream::default();
    let RequestAction::Continue(m) = e.on_request_headers(&mut s, view("/api/users"), &host) else {
        panic!()
    };
    assert_eq!(m.remove, vec!["accept-encoding".to_string()]);
    let mut s = Stream::default();
    let RequestAction::Continue(m) = e.on_request_headers(&mut s, view("/public"), &host) else {
        panic!()
    };
    assert!(m.remove.is_empty());
    let (_, buffered) = start(&e, &host, "/public", JSON);
    assert!(!buffered);
}

#[test]
fn sample_document_is_masked_exactly() {
    let e = engine("{}");
    let host = MemoryHost::at(1_700_000_000);
    let (mut s, buffered) = start(&e, &host, "/api/users", JSON);
    assert!(buffered);
    let out = replaced(feed(&e, &host, &mut s, SAMPLE.as_bytes(), &[]));
    if std::env::var_os("EDGEGUARD_UPDATE_MASKING").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../testdata/masking/users.masked.json"
            ),
            &out,
        )
        .unwrap();
    }
    assert_eq!(out, SAMPLE_MASKED);
    assert_eq!(host.metric("edgeguard_masking_values_total"), 10);
    assert_eq!(host.metric("edgeguard_masking_bodies_total"), 1);
}

#[test]
fn every_split_offset_gives_the_same_output() {
    let e = engine("{}");
    let host = MemoryHost::at(1_700_000_000);
    let body = SAMPLE.as_bytes();
    for at in 0..=body.len() {
        let (mut s, _) = start(&e, &host, "/api/users", JSON);
        assert_eq!(
            replaced(feed(&e, &host, &mut s, body, &[at])),
            SAMPLE_MASKED,
            "split at {at}"
        );
    }
    // One byte per chunk.
    let (mut s, _) = start(&e, &host, "/api/users", JSON);
    let splits: Vec<usize> = (1..body.len()).collect();
    assert_eq!(
        replaced(feed(&e, &host, &mut s, body, &splits)),
        SAMPLE_MASKED
    );
}

#[test]
fn trailers_finish_the_body_without_an_end_flag_on_the_data() {
    let e = engine("{}");
    let host = MemoryHost::at(1_700_000_000);
    let (mut s, _) = start(&e, &host, "/api/users", JSON);
    let body = SAMPLE.as_bytes();
    let half = body.len() / 2;
    assert_eq!(
        e.on_response_body(&mut s, &body[..half], false, &host),
        ResponseBodyAction::Buffer
    );
    assert_eq!(
        e.on_response_body(&mut s, &body[half..], false, &host),
        ResponseBodyAction::Buffer
    );
    // The trailers callback: empty chunk, end of stream.
    assert_eq!(
        replaced(e.on_response_body(&mut s, b"", true, &host)),
        SAMPLE_MASKED
    );
}

#[test]
fn rule_overrides_add_keys() {
    let e = engine(r#"{"detectors":{"email":false}}"#);
    let host = MemoryHost::at(1_700_000_000);
    let body = br#"{"nickname":"Johnny","mail":"a.person@example.com"}"#;
    let (mut s, _) = start(&e, &host, "/extra", JSON);
    assert_eq!(
        replaced(feed(&e, &host, &mut s, body, &[])),
        r#"{"nickname":"Jo**ny","mail":"a.person@example.com"}"#
    );
    let (mut s, _) = start(&e, &host, "/api", JSON);
    assert_eq!(
        feed(&e, &host, &mut s, body, &[]),
        ResponseBodyAction::Continue
    );
}

#[test]
fn non_json_and_unchanged_bodies_pass() {
    let e = engine("{}");
    let host = MemoryHost::at(1_700_000_000);
    for ct in ["text/html", "text/plain", "application/jsonp"] {
        let (_, buffered) = start(&e, &host, "/api", &[("content-type", ct)]);
        assert!(!buffered, "{ct}");
    }
    let (_, buffered) = start(&e, &host, "/api", &[]);
    assert!(!buffered);
    let (mut s, buffered) = start(
        &e,
        &host,
        "/api",
        &[("content-type", "application/problem+json")],
    );
    assert!(buffered);
    assert_eq!(
        feed(&e, &host, &mut s, br#"{"title":"x"}"#, &[3]),
        ResponseBodyAction::Continue
    );
}

fn assert_502(a: ResponseBodyAction, reason: &str) {
    let ResponseBodyAction::Respond(r) = a else {
        panic!("expected 502, got {a:?}")
    };
    assert_eq!(r.status, 502);
    assert_eq!(r.reason, reason);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], 502);
}

#[test]
fn oversize_blocks_by_default_and_passes_when_configured() {
    let e = engine(r#"{"max_body_bytes":16}"#);
    let host = MemoryHost::at(1_700_000_000);
    let body = br#"{"email":"johndoe@example.com"}"#;
    let (mut s, _) = start(&e, &host, "/api", JSON);
    assert_502(feed(&e, &host, &mut s, body, &[10]), "masking_oversize");
    // Declared length over the limit: decided at headers time.
    let (mut s, buffered) = start(
        &e,
        &host,
        "/api",
        &[
            ("content-type", "application/json"),
            ("content-length", "999"),
        ],
    );
    assert!(buffered);
    assert_502(
        e.on_response_body(&mut s, b"{", false, &host),
        "masking_oversize",
    );
    assert_eq!(host.metric("edgeguard_masking_blocked_total"), 2);
    // A host that holds the body itself checks the size on every chunk.
    let (mut s, _) = start(&e, &host, "/api", JSON);
    assert_eq!(
        e.on_response_body_progress(&mut s, 16, &host),
        ResponseBodyAction::Buffer
    );
    assert_502(
        e.on_response_body_progress(&mut s, 17, &host),
        "masking_oversize",
    );
    assert_eq!(host.metric("edgeguard_masking_blocked_total"), 3);
    assert_eq!(
        e.on_response_body(&mut s, body, true, &host),
        ResponseBodyAction::Continue
    );

    let e = engine(r#"{"max_body_bytes":16,"on_oversize":"pass"}"#);
    let host = MemoryHost::at(1_700_000_000);
    let (mut s, _) = start(&e, &host, "/api", JSON);
    assert_eq!(
        feed(&e, &host, &mut s, body, &[10]),
        ResponseBodyAction::Continue
    );
    assert_eq!(host.metric("edgeguard_masking_oversize_total"), 1);
    let (mut s, _) = start(&e, &host, "/api", JSON);
    assert_eq!(
        e.on_response_body_progress(&mut s, 17, &host),
        ResponseBodyAction::Continue
    );
    assert_eq!(host.metric("edgeguard_masking_oversize_total"), 2);
    assert_eq!(host.metric("edgeguard_masking_blocked_total"), 0);
    assert!(host.log_text().contains("\"masking_passed\""));
    assert!(!host.log_text().contains("johndoe"));
}

#[test]
fn header_time_blocks_come_with_a_reply_counted_once() {
    let e = engine(r#"{"max_body_bytes":16}"#);
    let host = MemoryHost::at(1_700_000_000);
    for (headers, reason) in [
        (
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            "masking_compressed",
        ),
        (
            &[
                ("content-type", "application/json"),
                ("content-length", "17"),
            ],
            "masking_oversize",
        ),
    ] {
        let mut s = Stream::default();
        let a = e.on_request_headers(&mut s, view("/api"), &host);
        assert!(matches!(a, RequestAction::Continue(_)));
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let r = e.on_response_headers(&mut s, &headers, &host);
        let reply = r.reply.expect("a header-time reply");
        assert_eq!((reply.status, reply.reason), (502, reason));
        // A host that cannot answer at header time gets the same reply from the body.
        assert_502(e.on_response_body(&mut s, b"", true, &host), reason);
    }
    assert_eq!(host.metric("edgeguard_masking_blocked_total"), 2);
    // Within the limit, or not JSON: no reply.
    let (_, buffered) = start(&e, &host, "/api", JSON);
    assert!(buffered);
    let mut s = Stream::default();
    let _ = e.on_request_headers(&mut s, view("/api"), &host);
    let r = e.on_response_headers(
        &mut s,
        &[("content-type".into(), "application/json".into())],
        &host,
    );
    assert!(r.reply.is_none());
}

#[test]
fn compressed_blocks_by_default_and_passes_when_configured() {
    let gz: &[(&str, &str)] = &[
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    let e = engine("{}");
    let host = MemoryHost::at(1_700_000_000);
    let (mut s, buffered) = start(&e, &host, "/api", gz);
    assert!(buffered);
    assert_502(
        feed(&e, &host, &mut s, b"\x1f\x8b\x08", &[]),
        "masking_compressed",
    );
    let (_, buffered) = start(
        &e,
        &host,
        "/api",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "identity"),
        ],
    );
    assert!(buffered);

    let e = engine(r#"{"on_compressed":"pass"}"#);
    let (_, buffered) = start(&e, &host, "/api", gz);
    assert!(!buffered);
}

#[test]
fn malformed_blocks_by_default_and_passes_when_configured() {
    let body = br#"{"email":"johndoe@example.com","x":[1,}"#;
    let e = engine("{}");
    let host = MemoryHost::at(1_700_000_000);
    let (mut s, _) = start(&e, &host, "/api", JSON);
    assert_502(feed(&e, &host, &mut s, body, &[5]), "masking_malformed");
    assert!(host.log_text().contains("unexpected byte at offset"));
    assert!(!host.log_text().contains("johndoe"));

    let e = engine(r#"{"on_malformed":"pass"}"#);
    let host = MemoryHost::at(1_700_000_000);
    let (mut s, _) = start(&e, &host, "/api", JSON);
    assert_eq!(
        feed(&e, &host, &mut s, body, &[]),
        ResponseBodyAction::Continue
    );
    assert_eq!(host.metric("edgeguard_masking_malformed_total"), 1);
}

#[test]
fn report_mode_never_buffers_or_rewrites() {
    let e = Engine::from_json(
        br#"{"mode":"report","rules":[{"match":{"prefix":"/"},"masking":true}]}"#,
    )
    .unwrap();
    let host = MemoryHost::at(1_700_000_000);
    let (mut s, buffered) = start(&e, &host, "/api", JSON);
    assert!(!buffered);
    assert_eq!(
        e.on_response_body(&mut s, br#"{"email":"johndoe@example.com"}"#, true, &host),
        ResponseBodyAction::Continue
    );
}

fn config_error(json: &str) -> String {
    Engine::from_json(json.as_bytes()).unwrap_err().to_string()
}

#[test]
fn config_errors_name_the_field() {
    assert_eq!(
        config_error(r#"{"masking":{"paths":{"user.email":"email"}}}"#),
        "config error at masking.paths.user.email: a JSON path must start with \"$\""
    );
    assert_eq!(
        config_error(
            r#"{"masking":{"keys":{"user":"hash"}},"rules":[{"match":{"prefix":"/"},"masking":true}]}"#
        ),
        "config error at masking.hash_key: required: a selector or detector uses the hash strategy"
    );
    assert_eq!(
        config_error(r#"{"masking":{"hash_key":"short"}}"#),
        "config error at masking.hash_key: hash key must be at least 16 bytes"
    );
    assert!(
        config_error(r#"{"masking":{"hash_key":{"env":"EDGEGUARD_TEST_UNSET_VAR_42"}}}"#)
            .starts_with("config error at masking.hash_key: environment variable")
    );
    assert!(config_error(r#"{"masking":{"keys":{"a":"scramble"}}}"#)
        .starts_with("config error at masking.keys.a"));
    assert!(config_error(r#"{"masking":{"bogus":1}}"#).contains("unknown field"));
    assert!(config_error(r#"{"masking":{"content_types":["json"]}}"#)
        .starts_with("config error at masking.content_types[0]"));
    assert!(config_error(r#"{"masking":{"max_body_bytes":0}}"#)
        .starts_with("config error at masking.max_body_bytes"));
    assert!(config_error(r#"{"masking":{"detectors":{"card":"nope"}}}"#)
        .starts_with("config error at masking.detectors.card"));
    assert!(config_error(
        r#"{"rules":[{"match":{"prefix":"/"},"masking":{"paths":{"$.":"email"}}}]}"#
    )
    .starts_with("config error at rules[0].masking.paths.$."));
    assert!(
        config_error(r#"{"rules":[{"match":{"prefix":"/"},"masking":{"nope":1}}]}"#)
            .starts_with("config error at rules[0].masking")
    );
}

#[test]
fn hash_key_from_the_environment() {
    std::env::set_var("EDGEGUARD_TEST_MASK_KEY", "0123456789abcdef-from-env");
    let e = Engine::from_json(
        br#"{"masking":{"keys":{"user":"hash"},"hash_key":{"env":"EDGEGUARD_TEST_MASK_KEY"}},
             "rules":[{"match":{"prefix":"/"},"masking":true}]}"#,
    )
    .unwrap();
    let host = MemoryHost::at(1_700_000_000);
    let (mut s, _) = start(&e, &host, "/api", JSON);
    let out = replaced(feed(&e, &host, &mut s, br#"{"user":"alice"}"#, &[]));
    assert!(
        out.starts_with(r#"{"user":"h:"#) && out.len() == r#"{"user":"h:0123456789abcdef"}"#.len(),
        "{out}"
    );
}
