//! The shared suite on real Envoy: the same files must pass there as in-process. Skipped (with
//! a message) when no Envoy binary is installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use edgeguard_test_host::testfile::{run_paths, CaseOutcome, EnvoyBackend, Summary};
use edgeguard_test_host::{envoy, paths};

#[test]
fn shared_suite_passes_on_envoy() {
    if let Err(e) = envoy::envoy_binary() {
        eprintln!("skipping: {e}");
        return;
    }
    paths::build_filter_wasm().unwrap();
    let reports = run_paths(&[paths::cases_dir()], &mut EnvoyBackend::new());
    let summary = Summary::of(&reports);
    let failures: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.cases.iter().filter_map(move |c| match &c.outcome {
                CaseOutcome::Failed(f) => {
                    Some(format!("{} / {}: {}", r.name, c.name, f.join("; ")))
                }
                _ => None,
            })
        })
        .collect();
    println!(
        "envoy: {summary} ({} files, {} skipped)",
        summary.files, summary.skipped
    );
    assert!(summary.passed > 0);
    assert!(
        failures.is_empty(),
        "failing on Envoy:\n{}",
        failures.join("\n")
    );
}
