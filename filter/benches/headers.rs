//! Cost per request of the `headers` stage, natively: one request through the engine plus the
//! response-header pass, with the headers section on versus an empty config.
//! Run: `cargo bench -p edgeguard --bench headers`.

use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};
use std::hint::black_box;
use std::time::Instant;

fn request(preflight: bool) -> RequestView {
    let mut headers = vec![
        ("user-agent".to_string(), "bench/1".to_string()),
        ("accept".to_string(), "application/json".to_string()),
        ("origin".to_string(), "https://app.example.com".to_string()),
        (
            "x-forwarded-for".to_string(),
            "203.0.113.7, 10.0.0.2".to_string(),
        ),
        ("x-forwarded-proto".to_string(), "https".to_string()),
    ];
    if preflight {
        headers.push((
            "access-control-request-method".to_string(),
            "POST".to_string(),
        ));
    }
    RequestView::new(
        if preflight { "OPTIONS" } else { "GET" },
        "http",
        "api.example.com",
        "/api/items?page=2",
        headers,
        ConnectionInfo {
            source_ip: "10.0.0.1".parse().ok(),
            ..ConnectionInfo::default()
        },
    )
    .unwrap_or_default()
}

fn response() -> Vec<(String, String)> {
    vec![
        (":status".to_string(), "200".to_string()),
        ("content-type".to_string(), "application/json".to_string()),
        ("server".to_string(), "uvicorn".to_string()),
        ("x-powered-by".to_string(), "FastAPI".to_string()),
        ("set-cookie".to_string(), "sid=abc; Path=/".to_string()),
        ("content-length".to_string(), "512".to_string()),
    ]
}

/// Best-of-5 nanoseconds per iteration of `f`.
fn measure(name: &str, iters: u32, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    println!("{name:<48} {best:>9.0} ns/request");
    best
}

fn full_request(engine: &Engine, host: &MemoryHost, req: &RequestView, resp: &[(String, String)]) {
    let mut s = Stream::default();
    let a = engine.on_request_headers(&mut s, req.clone(), host);
    black_box(&a);
    let m = engine.on_response_headers(&mut s, resp, host);
    black_box(&m);
}

fn main() {
    let host = MemoryHost::at(1_700_000_000);
    let resp = response();
    let get = request(false);
    let base = Engine::from_json(br#"{"rules":[{"match":{"prefix":"/"}}]}"#).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let headers = Engine::from_json(
        br#"{"headers":{"allowed_hosts":["api.example.com","*.example.com"],"https_redirect":true,
             "trusted_proxies":["10.0.0.0/8"],
             "cors":{"allowed_origins":["https://app.example.com","https://*.example.org"],
                     "allowed_methods":["GET","POST"],"allow_credentials":true}},
            "rules":[{"match":{"prefix":"/"}}]}"#,
    )
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let n = 200_000;
    let b = measure("baseline (no headers section)", n, || {
        full_request(&base, &host, &get, &resp)
    });
    let h = measure("headers: hosts+https+proxies+CORS+defaults", n, || {
        full_request(&headers, &host, &get, &resp)
    });
    println!("{:<48} {:>9.0} ns/request", "=> headers stage cost", h - b);
    let defaults = Engine::from_json(br#"{"headers":{},"rules":[{"match":{"prefix":"/"}}]}"#)
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
    let d = measure("headers: defaults only (\"headers\": {})", n, || {
        full_request(&defaults, &host, &get, &resp)
    });
    println!("{:<48} {:>9.0} ns/request", "=> defaults cost", d - b);
    measure("response side only: on_response_headers", n, || {
        let mut s = Stream::default();
        s.request = Some(get.clone());
        black_box(headers.on_response_headers(&mut s, &resp, &host));
    });
    let pre = request(true);
    measure("headers: CORS preflight answered at the edge", n, || {
        let mut s = Stream::default();
        black_box(headers.on_request_headers(&mut s, pre.clone(), &host));
    });
}
