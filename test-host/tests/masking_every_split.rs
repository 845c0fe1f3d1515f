//! Chunk boundaries through the built filter (issue 7): one JSON document with escaped keys,
//! escapes in values and sensitive values, answered by the upstream in two body chunks split at
//! every byte offset. Each split must give the same masked body, byte for byte: in-process
//! (each chunk is its own `proxy_on_response_body` call) and on real Envoy (one chunked frame
//! per chunk with a pause, so Envoy delivers them separately; skipped without an Envoy binary).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use edgeguard_test_host::testfile::InProcessBackend;
use edgeguard_test_host::testfile::{run_paths, Backend, CaseOutcome, EnvoyBackend, Summary};
use edgeguard_test_host::{envoy, paths};
use std::path::PathBuf;

const DOCUMENT: &str = r#"{"user":{"em\u0061il":"john\u0064oe@example.com","note":"ssn 123-45-6789, \"quoted\" \\ ok","ssn":123456789,"card_number":"4111 1111 1111 1111","tags":["a\/b"]}}"#;
const MASKED: &str = r#"{"user":{"em\u0061il":"jo*****@example.com","note":"ssn ***-**-6789, \"quoted\" \\ ok","ssn":"***-**-6789","card_number":"************1111","tags":["a\/b"]}}"#;

/// A test file with one case per split offset (1 ..= len-1), in a fresh directory.
fn every_split_file(tag: &str) -> PathBuf {
    let q = |s: &str| serde_json::to_string(s).unwrap(); // a JSON string is a YAML scalar
    let mut y = String::from(
        "name: masking, every split offset\n\
         plugin:\n  config: {\"masking\": {}, \"rules\": [{\"name\": \"api\", \"match\": {\"prefix\": \"/\"}, \"masking\": true}]}\n\
         requests:\n",
    );
    for k in 1..DOCUMENT.len() {
        y.push_str(&format!(
            "  - name: split at {k}\n    request: {{ path: /api/user }}\n    upstream:\n      \
             headers: {{ content-type: application/json }}\n      body: {}\n      chunks: [{k}]\n    \
             expect:\n      status: 200\n      body: {{ equals: {} }}\n",
            q(DOCUMENT),
            q(MASKED)
        ));
    }
    let dir = std::env::temp_dir().join(format!("eg-every-split-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("every_split.yaml");
    std::fs::write(&file, y).unwrap();
    file
}

fn run_every_split(backend: &mut dyn Backend, tag: &str) {
    paths::build_filter_wasm().unwrap();
    let file = every_split_file(tag);
    let reports = run_paths(std::slice::from_ref(&file), backend);
    let summary = Summary::of(&reports);
    let failures: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.cases.iter().filter_map(|c| match &c.outcome {
                CaseOutcome::Failed(f) => Some(format!("{}: {}", c.name, f.join("; "))),
                _ => None,
            })
        })
        .collect();
    println!(
        "{tag}: every split offset of a {}-byte document: {summary}",
        DOCUMENT.len()
    );
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(summary.passed, DOCUMENT.len() - 1, "{summary:?}");
}

#[test]
fn every_split_offset_gives_the_same_masked_body_in_process() {
    run_every_split(&mut InProcessBackend::new(), "in-process");
}

#[test]
fn every_split_offset_gives_the_same_masked_body_on_envoy() {
    if let Err(e) = envoy::envoy_binary() {
        println!("skipped: {e}");
        return;
    }
    run_every_split(&mut EnvoyBackend::new(), "envoy");
}
