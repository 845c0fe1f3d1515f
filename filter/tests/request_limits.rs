//! Request limits and hygiene through the engine: 405 with Allow, 414, 431, 400 on encoded
//! traversal, 415, 413 from content-length or the buffered body.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use edgeguard::decision::RequestAction;
use edgeguard::engine::Stream;
use edgeguard::host::memory::MemoryHost;

const CONFIG: &str = r#"{
    "rules": [
        {"name": "upload", "match": {"prefix": "/upload"},
         "limits": {"methods": ["POST", "PUT"], "max_body_bytes": 10,
                    "content_types": ["application/json", "image/*"]}},
        {"name": "files", "match": {"prefix": "/files"},
         "limits": {"reject_encoded_traversal": true, "max_url_length": 40,
                    "max_header_count": 3, "max_header_bytes": 64}},
        {"name": "sized", "match": {"prefix": "/sized"},
         "limits": {"max_body_bytes": 10, "require_content_length": true}},
        {"name": "open", "match": {"prefix": "/"}}
    ]}"#;

#[test]
fn method_not_allowed_has_allow() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(&e, &host, req("DELETE", "/upload/1", &[]));
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (405, "method_not_allowed"));
    assert!(r
        .headers
        .contains(&("allow".to_string(), "POST, PUT".to_string())));
    assert_eq!(host.metric("edgeguard_denied_method_not_allowed_total"), 1);
    assert_eq!(
        host.metric("edgeguard_request_policy_method_not_allowed_total"),
        1
    );
    // Methods are case-sensitive.
    let (a, _) = run(
        &e,
        &host,
        req("post", "/upload/1", &[("content-length", "0")]),
    );
    assert_eq!(expect_reply(a).status, 405);
}

#[test]
fn body_size_from_content_length() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let json = ("content-type", "application/json");
    let (a, _) = run(
        &e,
        &host,
        req("POST", "/upload", &[json, ("content-length", "10")]),
    );
    expect_continue(a);
    let (a, _) = run(
        &e,
        &host,
        req("POST", "/upload", &[json, ("content-length", "11")]),
    );
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (413, "body_too_large"));
    assert_eq!(body_json(&r)["error"], "request body too large");
    for bad in ["ten", "-1", "10, 11"] {
        let (a, _) = run(
            &e,
            &host,
            req("POST", "/upload", &[json, ("content-length", bad)]),
        );
        let r = expect_reply(a);
        assert_eq!((r.status, r.reason), (400, "bad_content_length"), "{bad}");
    }
}

#[test]
fn body_size_without_content_length_buffers_the_body() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let headers = [
        ("content-type", "image/png"),
        ("transfer-encoding", "chunked"),
    ];
    let mut s = Stream::default();
    let a = e.on_request_headers(&mut s, req("PUT", "/upload", &headers), &host);
    assert_eq!(a, RequestAction::NeedBody);
    assert_eq!(
        e.on_request_body(&mut s, b"12345", false, &host),
        RequestAction::NeedBody
    );
    let a = e.on_request_body(&mut s, b"678901", true, &host);
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (413, "body_too_large"));

    let mut s = Stream::default();
    let a = e.on_request_headers(&mut s, req("PUT", "/upload", &headers), &host);
    assert_eq!(a, RequestAction::NeedBody);
    let a = e.on_request_body(&mut s, b"0123456789", true, &host);
    expect_continue(a);
    // A headers-only request: the adapter delivers an empty body at once.
    let mut s = Stream::default();
    let a = e.on_request_headers(&mut s, req("POST", "/upload", &[]), &host);
    assert_eq!(a, RequestAction::NeedBody);
    expect_continue(e.on_request_body(&mut s, b"", true, &host));
}

#[test]
fn require_content_length_answers_411_instead_of_buffering() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        req("POST", "/sized", &[("transfer-encoding", "chunked")]),
    );
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (411, "length_required"));
    let (a, _) = run(
        &e,
        &host,
        req("POST", "/sized", &[("content-length", "10")]),
    );
    expect_continue(a);
    let (a, _) = run(
        &e,
        &host,
        req("POST", "/sized", &[("content-length", "11")]),
    );
    assert_eq!(expect_reply(a).status, 413);
    // Methods that normally have no body still buffer (the adapter delivers the empty body).
    let mut s = Stream::default();
    assert_eq!(
        e.on_request_headers(&mut s, req("GET", "/sized", &[]), &host),
        RequestAction::NeedBody
    );
}

#[test]
fn content_types() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    for (ct, ok) in [
        ("application/json", true),
        ("Application/JSON; charset=utf-8", true),
        ("image/webp", true),
        ("image/", false),
        ("text/plain", false),
        ("application/x-www-form-urlencoded", false),
        ("application/jsonp", false),
    ] {
        let (a, _) = run(
            &e,
            &host,
            req(
                "POST",
                "/upload",
                &[("content-type", ct), ("content-length", "2")],
            ),
        );
        match a {
            RequestAction::Continue(_) => assert!(ok, "{ct} should be refused"),
            RequestAction::Respond(r) => {
                assert!(!ok, "{ct} should pass");
                assert_eq!((r.status, r.reason), (415, "unsupported_media_type"));
            }
            other => panic!("{other:?}"),
        }
    }
    // A body without a content type is refused; no body and no type is fine.
    let (a, _) = run(
        &e,
        &host,
        req("POST", "/upload", &[("content-length", "2")]),
    );
    assert_eq!(expect_reply(a).status, 415);
    let (a, _) = run(
        &e,
        &host,
        req("POST", "/upload", &[("content-length", "0")]),
    );
    expect_continue(a);
}

#[test]
fn url_and_header_limits() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        req("GET", "/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &[]),
    );
    expect_continue(a); // 40 bytes exactly
    let (a, _) = run(
        &e,
        &host,
        req("GET", "/files/a?q=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &[]),
    );
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (414, "uri_too_long"));
    let (a, _) = run(
        &e,
        &host,
        req(
            "GET",
            "/files/a",
            &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")],
        ),
    );
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (431, "too_many_headers"));
    let (a, _) = run(
        &e,
        &host,
        req("GET", "/files/a", &[("cookie", &"x".repeat(60))]),
    );
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (431, "headers_too_large"));
    let (a, _) = run(
        &e,
        &host,
        req("GET", "/files/a", &[("cookie", &"x".repeat(58))]),
    );
    expect_continue(a); // 6 + 58 = 64 bytes exactly
}

#[test]
fn encoded_traversal_is_a_400_on_rules_that_ask() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    for (path, detail) in [
        ("/files/a/b/%2e%2e/%2e%2e/etc/passwd", "encoded_dot_segment"),
        ("/files/a/%2E%2E/x", "encoded_dot_segment"),
        ("/files/..%2fsecret", "encoded_slash"),
        ("/files/a%5c..%5cx", "backslash"),
        ("/files/a\\b", "backslash"),
        ("/files/a.txt%00.png", "nul"),
        ("/files/%252e%252e/x", "double_encoding"),
    ] {
        let (a, _) = run(&e, &host, req("GET", path, &[("x-request-id", "r-1")]));
        let r = expect_reply(a);
        assert_eq!((r.status, r.reason), (400, "encoded_traversal"), "{path}");
        let line = events(&host, "request_policy_rejected").pop().unwrap();
        assert_eq!(line["detail"], detail, "{path}");
        assert_eq!(line["rule"], "files");
        assert_eq!(line["request_id"], "r-1");
    }
    // Plain dots and encoded characters elsewhere are fine.
    let (a, _) = run(&e, &host, req("GET", "/files/v1.2/%C3%A9", &[]));
    expect_continue(a);
    // Rules match the normalized path: a traversal that climbs out of `/files` lands on the
    // rule it climbed into (here `open`, which does not ask), so the option belongs on the
    // catch-all rule too.
    let (a, s) = run(
        &e,
        &host,
        req("GET", "/files/%2e%2e/%2e%2e/etc/passwd", &[]),
    );
    expect_continue(a);
    assert_eq!(s.rule, Some(3));
    assert_eq!(s.request.unwrap().path, "/etc/passwd");
}

#[test]
fn config_errors() {
    for (json, want) in [
        (r#"{"limits": {"methods": ["get"]}}"#, "config error at rules[0].limits.methods[0]: \"get\" is not an upper-case HTTP method"),
        (r#"{"limits": {"max_url_length": 0}}"#, "config error at rules[0].limits.max_url_length: must be greater than 0"),
        (r#"{"limits": {"content_types": ["json"]}}"#, "config error at rules[0].limits.content_types[0]: \"json\" is not a media type such as application/json or text/*"),
        (r#"{"limits": {"content_types": ["*/*"]}}"#, "config error at rules[0].limits.content_types[0]: \"*/*\" is not a media type such as application/json or text/*"),
        (r#"{"limits": {"max_body_bytes": -1}}"#, "config error at rules[0].limits.max_body_bytes: invalid value: integer `-1`, expected u64"),
    ] {
        let full = format!(r#"{{"rules": [{{"match": {{"prefix": "/"}}, {}}}]}}"#, &json[1..json.len() - 1]);
        let err = edgeguard::config::Config::from_json(full.as_bytes()).unwrap_err();
        assert!(err.to_string().starts_with(want), "{err}");
    }
}
