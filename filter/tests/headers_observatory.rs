//! The MDN HTTP Observatory's header tests, one by one, against what edgeguard sends with an
//! empty `headers` section. The scanner itself cannot run here (it needs the internet for its
//! HSTS-preload and TLD lists and a public HTTPS host), so its public scoring table
//! (mozilla/http-observatory `httpobs/docs/scoring.md`: baseline 100, A+ from 100) is applied
//! to the real responses: every test must pass without a penalty.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::decision::RequestAction;
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};

fn view(scheme: &str, method: &str, authority: &str, headers: &[(&str, &str)]) -> RequestView {
    RequestView::new(
        method,
        scheme,
        authority,
        "/app?x=1",
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ConnectionInfo {
            source_ip: "198.51.100.3".parse().ok(),
            ..ConnectionInfo::default()
        },
    )
    .unwrap()
}

/// The response a browser would see for an upstream answer passed through edgeguard.
fn through(engine: &Engine, req: RequestView, upstream: &[(&str, &str)]) -> Vec<(String, String)> {
    let host = MemoryHost::at(1_700_000_000);
    let mut s = Stream::default();
    match engine.on_request_headers(&mut s, req, &host) {
        RequestAction::Continue(_) => {}
        other => panic!("unexpected {other:?}"),
    }
    let mut resp: Vec<(String, String)> = upstream
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let action = engine.on_response_headers(&mut s, &resp.clone(), &host);
    action.mutations.apply_to(&mut resp);
    resp
}

fn get<'a>(h: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    h.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn csp_directives(csp: &str) -> Vec<(String, Vec<String>)> {
    csp.split(';')
        .filter_map(|d| {
            let mut parts = d.split_whitespace();
            let name = parts.next()?.to_ascii_lowercase();
            Some((name, parts.map(|s| s.to_ascii_lowercase()).collect()))
        })
        .collect()
}

/// The Observatory's score for one HTTPS response and the HTTP→HTTPS redirect, with the
/// modifier of each test; panics on any penalty.
fn observatory_score(resp: &[(String, String)], redirect_location: &str, https_url: &str) -> i32 {
    let mut score = 100;
    let mut bonus = 0;
    // Content Security Policy: present, no unsafe-inline/unsafe-eval for scripts, no wildcard.
    let csp = get(resp, "content-security-policy");
    assert_eq!(csp.len(), 1, "csp-not-implemented (-25)");
    let dirs = csp_directives(csp[0]);
    let find = |n: &str| dirs.iter().find(|(d, _)| d == n).map(|(_, v)| v.clone());
    let default_src = find("default-src").expect("default-src");
    let script_src = find("script-src").unwrap_or(default_src.clone());
    for bad in [
        "'unsafe-inline'",
        "'unsafe-eval'",
        "*",
        "http:",
        "https:",
        "data:",
    ] {
        assert!(
            !script_src.iter().any(|s| s == bad),
            "csp-implemented-with-unsafe ({bad})"
        );
    }
    if default_src == ["'none'"] {
        bonus += 10; // csp-implemented-with-no-unsafe-default-src-none
    }
    // Cookies: all Secure, session cookies HttpOnly, SameSite set.
    let cookies = get(resp, "set-cookie");
    assert!(!cookies.is_empty());
    for c in &cookies {
        let lower = c.to_ascii_lowercase();
        assert!(
            lower.contains("; secure"),
            "cookies-without-secure-flag (-20): {c}"
        );
        assert!(
            lower.contains("; httponly"),
            "cookies-session-without-httponly-flag (-30)"
        );
        assert!(lower.contains("; samesite="), "no SameSite: {c}");
    }
    bonus += 5; // cookies-secure-with-httponly-sessions-and-samesite
                // CORS: no universal access.
    assert!(get(resp, "access-control-allow-origin").is_empty());
    // Redirection: HTTP goes to HTTPS on the same host first.
    assert_eq!(
        redirect_location, https_url,
        "redirection-not-to-https (-20)"
    );
    // Referrer-Policy: a private value.
    let rp = get(resp, "referrer-policy");
    assert!(matches!(
        rp.as_slice(),
        ["no-referrer" | "same-origin" | "strict-origin" | "strict-origin-when-cross-origin"]
    ));
    bonus += 5; // referrer-policy-private
                // HSTS: at least six months.
    let hsts = get(resp, "strict-transport-security");
    assert_eq!(hsts.len(), 1, "hsts-not-implemented (-20)");
    let max_age: u64 = hsts[0]
        .split(';')
        .find_map(|p| p.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .expect("max-age");
    assert!(
        max_age >= 15_552_000,
        "hsts-implemented-max-age-less-than-six-months (-10)"
    );
    // X-Content-Type-Options.
    assert_eq!(get(resp, "x-content-type-options"), ["nosniff"], "(-5)");
    // X-Frame-Options: DENY/SAMEORIGIN, and CSP frame-ancestors earns the bonus.
    assert!(matches!(
        get(resp, "x-frame-options").as_slice(),
        ["DENY" | "SAMEORIGIN"]
    ));
    if find("frame-ancestors").is_some() {
        bonus += 5; // x-frame-options-implemented-via-csp
    }
    // Cross-Origin-Resource-Policy (newer Observatory test): same-origin or same-site.
    assert!(matches!(
        get(resp, "cross-origin-resource-policy").as_slice(),
        ["same-origin" | "same-site"]
    ));
    // Bonuses only count from an A (90) upwards.
    if score >= 90 {
        score += bonus;
    }
    score
}

#[test]
fn defaults_score_a_plus_on_the_observatory_header_tests() {
    let engine = Engine::from_json(br#"{"headers":{"https_redirect":true}}"#).unwrap();
    let host = MemoryHost::at(1_700_000_000);
    let mut s = Stream::default();
    let RequestAction::Respond(redirect) =
        engine.on_request_headers(&mut s, view("http", "GET", "shop.example.com", &[]), &host)
    else {
        panic!("expected a redirect");
    };
    assert_eq!(redirect.status, 301);
    // No HSTS over plain HTTP (RFC 6797 §7.2).
    assert!(get(&redirect.headers, "strict-transport-security").is_empty());
    let location = get(&redirect.headers, "location")[0].to_string();
    let resp = through(
        &engine,
        view(
            "https",
            "GET",
            "shop.example.com",
            &[("origin", "https://evil.example")],
        ),
        &[
            ("content-type", "text/html"),
            ("server", "uvicorn"),
            ("x-powered-by", "FastAPI"),
            ("set-cookie", "session=abc; Path=/"),
            ("set-cookie", "theme=dark"),
        ],
    );
    assert!(get(&resp, "server").is_empty());
    assert!(get(&resp, "x-powered-by").is_empty());
    let score = observatory_score(&resp, &location, "https://shop.example.com/app?x=1");
    assert!(score >= 100, "score {score}");
    assert_eq!(score, 125);
}

#[test]
fn edgeguard_own_replies_score_the_same() {
    let engine =
        Engine::from_json(br#"{"headers":{"allowed_hosts":["shop.example.com"]}}"#).unwrap();
    let host = MemoryHost::at(1_700_000_000);
    let mut s = Stream::default();
    let RequestAction::Respond(reply) =
        engine.on_request_headers(&mut s, view("https", "GET", "other.example", &[]), &host)
    else {
        panic!("expected a 421");
    };
    assert_eq!(reply.status, 421);
    let mut headers = reply.headers.clone();
    headers.push((
        "set-cookie".into(),
        "x=1; Secure; HttpOnly; SameSite=Lax".into(),
    ));
    let score = observatory_score(
        &headers,
        "https://shop.example.com/",
        "https://shop.example.com/",
    );
    assert!(score >= 100, "score {score}");
}

#[test]
fn example_config_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/headers/example-config.json");
    let bytes = std::fs::read(path).unwrap();
    Engine::from_json(&bytes).unwrap();
}
