//! Cost per request of the rate-limit stage, natively over the in-memory host's shared data
//! (a HashMap; in Envoy each shared-data get/set is a host call plus a lock, so add those).
//! Run: `cargo bench -p edgeguard --bench rate_limit`.

use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};
use std::hint::black_box;
use std::time::Instant;

fn request(ip: &str) -> RequestView {
    RequestView::new(
        "GET",
        "https",
        "api.example.com",
        "/api/items",
        vec![("x-api-key".to_string(), "k-123".to_string())],
        ConnectionInfo {
            source_ip: ip.parse().ok(),
            ..ConnectionInfo::default()
        },
    )
    .unwrap_or_default()
}

/// Best-of-5 nanoseconds per iteration of `f`.
fn measure(name: &str, iters: u32, mut f: impl FnMut(u32)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    println!("{name:<52} {best:>9.0} ns/request");
    best
}

fn engine(json: &str) -> Engine {
    Engine::from_json(json.as_bytes()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    })
}

fn main() {
    let host = MemoryHost::at(1_700_000_000);
    let resp = vec![("content-type".to_string(), "application/json".to_string())];
    let base = engine(r#"{"rules":[{"match":{"prefix":"/"}}]}"#);
    let one = engine(
        r#"{"rate_limit":{"policies":[{"name":"ip","quota":50000000,"window_secs":60}]},
            "rules":[{"match":{"prefix":"/"},"rate_limits":["ip"]}]}"#,
    );
    let three = engine(
        r#"{"rate_limit":{"policies":[
              {"name":"ip","quota":50000000,"window_secs":60},
              {"name":"key","quota":50000000,"window_secs":60,"key":"header:x-api-key"},
              {"name":"global","quota":50000000,"window_secs":3600,"key":"global"}],
            "lockout":{}},
            "rules":[{"match":{"prefix":"/"},"rate_limits":["ip","key","global"]}]}"#,
    );
    let ips: Vec<RequestView> = (0..1024u32)
        .map(|i| request(&format!("198.51.{}.{}", i >> 8, i & 255)))
        .collect();
    let run = |e: &Engine, i: u32| {
        let mut s = Stream::default();
        let r = ips.get(i as usize % ips.len()).cloned().unwrap_or_default();
        black_box(e.on_request_headers(&mut s, r, &host));
        black_box(e.on_response_headers(&mut s, &resp, &host));
    };
    // Warm up: create the slot tables once (a one-time cost per VM).
    run(&one, 0);
    run(&three, 0);
    let n = 200_000;
    let b = measure("baseline (no rate_limit section)", n, |i| run(&base, i));
    let o = measure("1 policy (ip), 1024 distinct clients", n, |i| run(&one, i));
    let t = measure("3 policies (ip, header, global) + lockout check", n, |i| {
        run(&three, i)
    });
    println!("{:<52} {:>9.0} ns/request", "=> 1 policy cost", o - b);
    println!(
        "{:<52} {:>9.0} ns/request",
        "=> 3 policies + lockout cost",
        t - b
    );
    let cold = engine(
        r#"{"rate_limit":{"policies":[{"name":"ip","quota":10,"window_secs":60}]},
            "rules":[{"match":{"prefix":"/"},"rate_limits":["ip"]}]}"#,
    );
    let cold_host = MemoryHost::at(1_700_000_000);
    let start = Instant::now();
    let mut s = Stream::default();
    black_box(cold.on_request_headers(&mut s, request("192.0.2.1"), &cold_host));
    println!(
        "{:<52} {:>9.0} ns (once per VM per table)",
        "first request: create 4096 slots",
        start.elapsed().as_nanos() as f64
    );
}
