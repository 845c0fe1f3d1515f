//! `edgeguard bench` as a library: it measures, budgets fail a run, and the Service
//! Extensions profile flags host features that edge does not offer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use edgeguard_test_host::bench::{run, BenchArgs};
use edgeguard_test_host::paths;

fn args() -> BenchArgs {
    BenchArgs {
        file: paths::workspace_root().join("testdata/bench/empty_policy.yaml"),
        iterations: 5,
        streams: None,
        max_fuel: None,
        max_memory: None,
        profile: None,
    }
}

#[test]
fn bench_measures_fuel_and_memory() {
    paths::build_filter_wasm().unwrap();
    let r = run(&BenchArgs {
        streams: Some(20),
        ..args()
    })
    .unwrap();
    assert_eq!(r.requests, 15);
    assert!(r.median_fuel > 0 && r.max_fuel >= r.median_fuel);
    assert!(r.peak_memory >= 65536);
    assert_eq!(r.streams.map(|s| s.0), Some(20));
    assert!(r.budget_failures.is_empty(), "{:?}", r.budget_failures);
}

#[test]
fn budgets_fail_the_run() {
    paths::build_filter_wasm().unwrap();
    let r = run(&BenchArgs {
        max_fuel: Some(10),
        max_memory: Some(1024),
        ..args()
    })
    .unwrap();
    assert!(
        r.budget_failures
            .iter()
            .any(|f| f.starts_with("fuel: a request used")),
        "{:?}",
        r.budget_failures
    );
    assert!(
        r.budget_failures
            .iter()
            .any(|f| f.starts_with("memory: high-water mark")),
        "{:?}",
        r.budget_failures
    );
}

#[test]
fn service_extensions_profile_flags_metrics() {
    paths::build_filter_wasm().unwrap();
    let r = run(&BenchArgs {
        profile: Some("service-extensions".into()),
        iterations: 1,
        streams: Some(10),
        ..args()
    })
    .unwrap();
    assert_eq!(r.streams.map(|s| s.0), Some(10));
    let all = r.budget_failures.join("\n");
    assert!(all.contains("proxy_define_metric during proxy_on_configure: metrics is not available in this profile"), "{all}");
    // No remote JWKS in this policy: the filter asks for no timer.
    assert!(!all.contains("timers"), "{all}");
}

#[test]
fn service_extensions_profile_passes_with_metrics_off() {
    paths::build_filter_wasm().unwrap();
    let r = run(&BenchArgs {
        file: paths::workspace_root().join("testdata/bench/service_extensions.yaml"),
        profile: Some("service-extensions".into()),
        iterations: 2,
        streams: Some(20),
        ..args()
    })
    .unwrap();
    assert!(r.budget_failures.is_empty(), "{:?}", r.budget_failures);
    assert_eq!(r.requests, 8);
}
