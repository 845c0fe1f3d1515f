//! CSRF defence with browser-shaped requests: header sets as Chrome 131 and Firefox 133 send
//! them for same-origin form posts, cross-site form posts and fetch() calls.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::ConnectionInfo;

const CONFIG: &str = r#"{
    "rules": [
        {"name": "account", "match": {"prefix": "/account"},
         "csrf": {"allowed_origins": ["https://app.example.com", "https://partner.example.net:8443"]}},
        {"name": "strict", "match": {"prefix": "/strict"},
         "csrf": {"allowed_origins": ["https://app.example.com"], "strict": true}},
        {"name": "no-same-origin", "match": {"prefix": "/nso"},
         "csrf": {"allow_same_origin": false}},
        {"name": "rest", "match": {"prefix": "/"}}
    ]}"#;

const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX_UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// Chrome 131 submitting a `<form method=post>` on https://app.example.com/settings to the
/// same origin.
fn chrome_same_origin_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("content-length", "27"),
        ("cache-control", "max-age=0"),
        ("sec-ch-ua", "\"Google Chrome\";v=\"131\", \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\""),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("origin", "https://app.example.com"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("upgrade-insecure-requests", "1"),
        ("user-agent", CHROME_UA),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-user", "?1"),
        ("sec-fetch-dest", "document"),
        ("referer", "https://app.example.com/settings"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9"),
        ("cookie", "session=s3ss10n-v4lue"),
        ("x-request-id", "req-same-origin"),
    ]
}

/// Firefox 133 submitting an auto-posting form on https://evil.example/win to our origin.
fn firefox_cross_site_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("user-agent", FIREFOX_UA),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", "20"),
        ("origin", "https://evil.example"),
        ("referer", "https://evil.example/"),
        ("upgrade-insecure-requests", "1"),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-user", "?1"),
        ("priority", "u=0, i"),
        ("cookie", "session=s3ss10n-v4lue"),
        ("x-request-id", "req-evil"),
    ]
}

/// Chrome 131 running `fetch(url, {method, credentials: "include", body})` on `origin`.
fn chrome_fetch(origin: &'static str, site: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("content-length", "15"),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("user-agent", CHROME_UA),
        (
            "sec-ch-ua",
            "\"Google Chrome\";v=\"131\", \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"",
        ),
        ("content-type", "text/plain;charset=UTF-8"),
        ("sec-ch-ua-mobile", "?0"),
        ("accept", "*/*"),
        ("origin", origin),
        ("sec-fetch-site", site),
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-dest", "empty"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9"),
        ("cookie", "session=s3ss10n-v4lue"),
    ]
}

fn on(
    authority: &str,
    method: &str,
    path: &str,
    h: &[(&str, &str)],
) -> edgeguard::request::RequestView {
    req_on(
        "https",
        authority,
        method,
        path,
        h,
        ConnectionInfo {
            source_ip: Some("203.0.113.7".parse().unwrap()),
            ..ConnectionInfo::default()
        },
    )
}

#[test]
fn chrome_same_origin_form_post_passes() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    // Served by the API host itself: allowed as the request's own origin.
    let mut h = chrome_same_origin_form();
    h.retain(|(k, _)| *k != "origin" && *k != "referer");
    h.push(("origin", "https://api.example.com"));
    h.push(("referer", "https://api.example.com/account/settings"));
    let (a, _) = run(
        &e,
        &host,
        on("api.example.com", "POST", "/account/email", &h),
    );
    expect_continue(a);
    // Served by the listed app origin.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/email",
            &chrome_same_origin_form(),
        ),
    );
    expect_continue(a);
    assert_eq!(host.metric("edgeguard_denied_total"), 0);
}

#[test]
fn firefox_cross_site_form_post_is_a_403_and_a_security_event() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/delete",
            &firefox_cross_site_form(),
        ),
    );
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (403, "csrf_cross_site"));
    assert_eq!(
        body_json(&r),
        serde_json::json!({"error": "cross-site request rejected: state-changing requests must come from an allowed origin", "status": 403})
    );
    assert_eq!(host.metric("edgeguard_denied_csrf_cross_site_total"), 1);
    assert_eq!(
        host.metric("edgeguard_security_event_csrf_rejected_total"),
        1
    );
    assert_eq!(host.metric("edgeguard_security_events_total"), 1);
    let ev = events(&host, "security_event");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["kind"], "csrf_rejected");
    assert_eq!(ev[0]["rule"], "account");
    assert_eq!(ev[0]["reason"], "csrf_cross_site");
    assert_eq!(ev[0]["client_ip"], "203.0.113.7");
    assert_eq!(ev[0]["request_id"], "req-evil");
    assert_eq!(ev[0]["detail"], "https://evil.example");
    assert!(
        !host.log_text().contains("s3ss10n"),
        "the cookie must never be logged"
    );
}

#[test]
fn cross_site_fetch_is_rejected_unless_from_an_allowed_origin() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let (a, _) = run(
            &e,
            &host,
            on(
                "api.example.com",
                method,
                "/account/x",
                &chrome_fetch("https://evil.example", "cross-site"),
            ),
        );
        assert_eq!(expect_reply(a).reason, "csrf_cross_site", "{method}");
    }
    // A partner on another site, listed with its port: allowed despite cross-site.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &chrome_fetch("https://partner.example.net:8443", "cross-site"),
        ),
    );
    expect_continue(a);
    // The SPA on a sibling subdomain (same-site) is listed: allowed.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &chrome_fetch("https://app.example.com", "same-site"),
        ),
    );
    expect_continue(a);
    // A different (maybe compromised) subdomain is same-site but not listed.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &chrome_fetch("https://blog.example.com", "same-site"),
        ),
    );
    assert_eq!(expect_reply(a).reason, "csrf_origin_not_allowed");
    // http:// is a different origin than https://.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &chrome_fetch("http://app.example.com", "cross-site"),
        ),
    );
    assert_eq!(expect_reply(a).reason, "csrf_cross_site");
}

#[test]
fn safe_methods_are_not_checked() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    for method in ["GET", "HEAD", "OPTIONS"] {
        let (a, _) = run(
            &e,
            &host,
            on(
                "api.example.com",
                method,
                "/account",
                &firefox_cross_site_form(),
            ),
        );
        expect_continue(a);
    }
}

#[test]
fn bearer_and_api_key_requests_are_exempt() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let mut h = chrome_fetch("https://evil.example", "cross-site");
    h.push(("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"));
    let (a, _) = run(&e, &host, on("api.example.com", "POST", "/account/x", &h));
    expect_continue(a);
    let mut h = chrome_fetch("https://evil.example", "cross-site");
    h.push(("x-api-key", "eg_live_whatever"));
    let (a, _) = run(&e, &host, on("api.example.com", "POST", "/account/x", &h));
    expect_continue(a);
    // "Basic" or an empty Bearer is not an exemption.
    let mut h = chrome_fetch("https://evil.example", "cross-site");
    h.push(("authorization", "Bearer "));
    let (a, _) = run(&e, &host, on("api.example.com", "POST", "/account/x", &h));
    assert_eq!(expect_reply(a).reason, "csrf_cross_site");
}

#[test]
fn origin_fallbacks_referer_null_and_missing() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    // No Sec-Fetch-* (Safari before 16.4): Origin alone decides.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &[("origin", "https://evil.example")],
        ),
    );
    assert_eq!(expect_reply(a).reason, "csrf_origin_not_allowed");
    // No Origin (Firefox before 70 on form posts): the Referer's origin decides.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &[("referer", "https://app.example.com/settings?tab=1")],
        ),
    );
    expect_continue(a);
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &[("referer", "https://evil.example/page")],
        ),
    );
    assert_eq!(expect_reply(a).reason, "csrf_origin_not_allowed");
    // Origin wins over Referer.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &[
                ("origin", "https://evil.example"),
                ("referer", "https://app.example.com/"),
            ],
        ),
    );
    assert_eq!(expect_reply(a).reason, "csrf_origin_not_allowed");
    // `Origin: null` (sandboxed iframe, cross-origin redirect) is never allowed.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &[("origin", "null"), ("sec-fetch-site", "cross-site")],
        ),
    );
    assert_eq!(expect_reply(a).reason, "csrf_cross_site");
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &[("origin", "null")],
        ),
    );
    assert_eq!(expect_reply(a).reason, "csrf_origin_not_allowed");
    // Neither header (curl, server-to-server): passes unless strict.
    let curl = [
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
        ("content-type", "application/json"),
    ];
    let (a, _) = run(
        &e,
        &host,
        on("api.example.com", "POST", "/account/x", &curl),
    );
    expect_continue(a);
    let (a, _) = run(&e, &host, on("api.example.com", "POST", "/strict/x", &curl));
    let r = expect_reply(a);
    assert_eq!((r.status, r.reason), (403, "csrf_origin_missing"));
    // Strict still accepts a browser from the allowed origin.
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/strict/x",
            &chrome_same_origin_form(),
        ),
    );
    expect_continue(a);
}

#[test]
fn same_origin_can_be_switched_off_and_default_ports_compare_equal() {
    let e = engine(CONFIG);
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com:443",
            "POST",
            "/account/x",
            &[("origin", "https://api.example.com")],
        ),
    );
    expect_continue(a);
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/nso/x",
            &[
                ("origin", "https://api.example.com"),
                ("sec-fetch-site", "same-origin"),
            ],
        ),
    );
    assert_eq!(expect_reply(a).reason, "csrf_origin_not_allowed");
}

#[test]
fn report_mode_counts_but_lets_through() {
    let e = engine(&CONFIG.replacen('{', r#"{"mode": "report","#, 1));
    let host = MemoryHost::at(NOW);
    let (a, _) = run(
        &e,
        &host,
        on(
            "api.example.com",
            "POST",
            "/account/x",
            &firefox_cross_site_form(),
        ),
    );
    expect_continue(a);
    assert_eq!(host.metric("edgeguard_reported_csrf_cross_site_total"), 1);
    assert_eq!(
        host.metric("edgeguard_security_event_csrf_rejected_total"),
        1
    );
}

#[test]
fn config_errors() {
    let err = edgeguard::config::Config::from_json(
        br#"{"rules": [{"match": {"prefix": "/"}, "csrf": {"allowed_origins": ["https://a.com/"]}}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "config error at rules[0].csrf.allowed_origins[0]: \"https://a.com/\" is not an origin: expected scheme://host[:port] (http or https, no path)"
    );
}
