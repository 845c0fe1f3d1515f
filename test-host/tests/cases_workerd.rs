//! The shared declarative suite (`testdata/cases/*.yaml`) on real workerd with the JS build
//! (skipped with a message when workerd or the bundle is missing: `scripts/install-js-tools`,
//! `scripts/build-js`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use edgeguard_test_host::paths;
use edgeguard_test_host::testfile::{run_paths, workerd_backend, CaseOutcome, WorkerdBackend};
use std::collections::BTreeMap;

#[test]
fn shared_suite_passes_on_workerd() {
    if let Err(e) = workerd_backend::available() {
        eprintln!("skipping: {e}");
        return;
    }
    let reports = run_paths(&[paths::cases_dir()], &mut WorkerdBackend::new());
    let (mut passed, mut failures, mut skips) = (0, Vec::new(), BTreeMap::new());
    for r in &reports {
        for c in &r.cases {
            match &c.outcome {
                CaseOutcome::Passed => passed += 1,
                CaseOutcome::Failed(f) => {
                    failures.push(format!("{} / {}: {}", r.name, c.name, f.join("; ")))
                }
                CaseOutcome::Skipped(reason) => *skips.entry(reason.clone()).or_insert(0) += 1,
            }
        }
    }
    let skipped: usize = skips.values().sum();
    for (reason, n) in &skips {
        println!("skipped on workerd ({n}): {reason}");
    }
    println!(
        "workerd: {} files, {} cases: {passed} passed, {} failed, {skipped} skipped",
        reports.len(),
        passed + failures.len() + skipped,
        failures.len()
    );
    assert!(passed >= 50, "too few cases ran on workerd: {passed}");
    assert!(
        failures.is_empty(),
        "failing on workerd:\n{}",
        failures.join("\n")
    );
}
