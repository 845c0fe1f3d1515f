//! The test-file runner itself: wrong expectations fail with a readable line, skips are
//! honoured, load failures are checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use edgeguard_test_host::paths;
use edgeguard_test_host::testfile::{run_file, CaseOutcome, InProcessBackend, Summary};
use std::path::PathBuf;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeguard-runner-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn wrong_expectations_fail_with_messages() {
    paths::build_filter_wasm().unwrap();
    let p = write(
        "wrong.yaml",
        r#"
plugin: { config: {} }
requests:
  - name: wrong status and header
    request: { path: /x }
    expect:
      status: 418
      headers: { x-nope: present-value }
      body: { json: { upstream: "not ok" } }
      upstream: { headers: { x-request-id: { absent: true } } }
      logs: { contains: ["never logged"] }
      metrics: { edgeguard_requests_total: 5 }
  - name: right
    request: { path: /x }
    expect: { status: 200, local_reply: false, metrics: { edgeguard_requests_total: 2 } }
  - name: skipped here
    request: { path: /x }
    skip: { inprocess: "testing skips" }
"#,
    );
    let mut b = InProcessBackend::new();
    let r = run_file(&p, &mut b);
    let CaseOutcome::Failed(f) = &r.cases[0].outcome else {
        panic!("{:?}", r.cases[0])
    };
    let all = f.join("\n");
    for needle in [
        "status: expected 418, got 200",
        "response header x-nope: expected present, missing",
        "response body: expected JSON",
        "upstream header x-request-id: expected absent",
        "logs: no line contains \"never logged\"",
        "metric edgeguard_requests_total: expected 5, got Some(1)",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert_eq!(r.cases[1].outcome, CaseOutcome::Passed);
    assert_eq!(
        r.cases[2].outcome,
        CaseOutcome::Skipped("testing skips".into())
    );
    let s = Summary::of(&[r]);
    assert_eq!(s.to_string(), "edgeguard test: 1 passed, 1 failed");
}

#[test]
fn load_failure_expectation_is_checked() {
    paths::build_filter_wasm().unwrap();
    let p = write(
        "loads.yaml",
        r#"
plugin: { config: {} }
expect_load_failure: { contains: ["config error"] }
"#,
    );
    let r = run_file(&p, &mut InProcessBackend::new());
    assert!(matches!(&r.cases[0].outcome, CaseOutcome::Failed(f) if f[0].contains("it started")));
}

#[test]
fn unknown_fields_in_test_files_are_refused() {
    let p = write(
        "typo.yaml",
        "requests:\n  - name: a\n    request: { path: / }\n    expekt: {}\n",
    );
    let r = run_file(&p, &mut InProcessBackend::new());
    assert!(
        matches!(&r.cases[0].outcome, CaseOutcome::Failed(f) if f[0].contains("expekt")),
        "{:?}",
        r.cases
    );
}
