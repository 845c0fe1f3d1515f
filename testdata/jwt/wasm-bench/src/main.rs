//! Per-algorithm JWT cost through the whole engine (`on_request_headers`), compiled to
//! wasm32-wasip1 and run in V8 by `run.mjs`: cache miss (verified-token cache off) and hit.
use edgeguard::decision::RequestAction;
use edgeguard::engine::{Engine, Stream};
use edgeguard::host::memory::MemoryHost;
use edgeguard::request::{ConnectionInfo, RequestView};
use serde_json::json;
use std::time::Instant;

const NOW: u64 = 1_800_000_060;

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
}

/// CPU time of the whole process (WASI `CLOCK_PROCESS_CPUTIME_ID`): on a machine shared with
/// other jobs this moves less than wall time, which also counts time spent waiting for a core.
fn cpu_ns() -> u64 {
    let mut t = 0u64;
    // SAFETY: a WASI call writing one u64 into memory we own.
    unsafe { clock_time_get(2, 1, &mut t) };
    t
}

fn engine(jwk: &serde_json::Value, cache: u32) -> Engine {
    let cfg = json!({"jwt_authn": {"providers": {"idp": {
        "issuer": "https://idp.example.com", "audiences": ["api"],
        "local_jwks": {"inline_string": json!({"keys": [jwk]}).to_string()},
        "jwt_cache_config": {"jwt_cache_size": cache},
        "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}]}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]}});
    Engine::from_json(cfg.to_string().as_bytes()).unwrap()
}

/// Best of 5 rounds, (wall, CPU) µs per request.
fn per_request_us(e: &Engine, host: &MemoryHost, token: &str, iters: u32) -> (f64, f64) {
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let cpu = cpu_ns();
        for _ in 0..iters {
            let req = RequestView::new("GET", "https", "api.example.com", "/api/x",
                headers.clone(), ConnectionInfo::default()).unwrap();
            let a = e.on_request_headers(&mut Stream::default(), std::hint::black_box(req), host);
            assert!(matches!(a, RequestAction::Continue(_)));
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / f64::from(iters));
        best_cpu = best_cpu.min((cpu_ns() - cpu) as f64 / 1e3 / f64::from(iters));
    }
    (best, best_cpu)
}

fn main() {
    let fixtures: serde_json::Value =
        serde_json::from_str(include_str!("../../../bench/jwt/fixtures.json")).unwrap();
    let host = MemoryHost::at(NOW);
    println!("{:<6} {:>22} {:>22} {:>12}", "alg", "miss µs (wall / cpu)", "hit µs (wall / cpu)", "key load µs");
    for (alg, f) in fixtures.as_object().unwrap() {
        let token = f["token"].as_str().unwrap();
        let t = Instant::now();
        let miss = engine(&f["jwk"], 0);
        let load = t.elapsed().as_secs_f64() * 1e6;
        let hit = engine(&f["jwk"], 100);
        let slow = !alg.starts_with("HS");
        let (m, mc) = per_request_us(&miss, &host, token, if slow { 100 } else { 4000 });
        let (h, hc) = per_request_us(&hit, &host, token, 10000);
        println!("{alg:<6} {:>22} {:>22} {load:>12.0}", format!("{m:.1} / {mc:.1}"), format!("{h:.2} / {hc:.2}"));
    }
}
