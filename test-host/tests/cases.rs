//! The shared declarative suite (`testdata/cases/*.yaml`) on the in-process backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use edgeguard_test_host::paths;
use edgeguard_test_host::testfile::{run_paths, CaseOutcome, InProcessBackend, Summary};

#[test]
fn shared_suite_passes_in_process() {
    paths::build_filter_wasm().unwrap();
    let mut backend = InProcessBackend::new();
    let reports = run_paths(&[paths::cases_dir()], &mut backend);
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
        "files: {}, cases: {}",
        summary.files,
        summary.passed + summary.failed + summary.skipped
    );
    println!("{summary}");
    assert!(summary.files >= 5, "the suite went missing: {summary:?}");
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}
