//! Masking throughput on generated JSON documents (1 KiB, 64 KiB, 1 MiB) with about 5% of the
//! fields sensitive, next to serde_json parse + serialize of the same documents.
//!
//! Run: `cargo bench -p edgeguard --bench masking`
//!
//! `EDGEGUARD_MASKING_DOCS=testdata/bench/masking cargo bench -p edgeguard --bench masking`
//! writes the three documents there instead (`doc_<size>.json`, the bodies of the test-host
//! bench files `testdata/bench/masking/*.yaml`) and exits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use edgeguard::masking::config::MaskingConfig;
use edgeguard::masking::policy::Policy;
use edgeguard::masking::rewriter::{rewrite, Rewritten};

fn main() {
    if let Some(dir) = std::env::var_os("EDGEGUARD_MASKING_DOCS") {
        for &size in SIZES {
            let path = std::path::Path::new(&dir).join(format!("doc_{size}.json"));
            std::fs::write(&path, document(size)).unwrap();
            println!("wrote {}", path.display());
        }
        return;
    }
    divan::main();
}

const SIZES: &[usize] = &[1024, 64 * 1024, 1024 * 1024];

include!("masking_data/doc.rs");

fn policy() -> Policy {
    Policy::compile(&MaskingConfig::default(), None, "masking").unwrap()
}

#[divan::bench(args = SIZES)]
fn edgeguard_mask(bencher: Bencher, size: usize) {
    let doc = document(size);
    let p = policy();
    assert!(matches!(rewrite(&p, &doc), Ok(Rewritten::Masked { .. })));
    bencher
        .counter(BytesCount::new(doc.len()))
        .bench(|| rewrite(&p, black_box(&doc)));
}

#[divan::bench(args = SIZES)]
fn edgeguard_mask_no_detectors(bencher: Bencher, size: usize) {
    let doc = document(size);
    let cfg: MaskingConfig = serde_json::from_str(
        r#"{"detectors":{"card":false,"ssn":false,"email":false,"jwt":false,"api_key":false}}"#,
    )
    .unwrap();
    let p = Policy::compile(&cfg, None, "masking").unwrap();
    bencher
        .counter(BytesCount::new(doc.len()))
        .bench(|| rewrite(&p, black_box(&doc)));
}

#[divan::bench(args = SIZES)]
fn serde_json_parse_serialize(bencher: Bencher, size: usize) {
    let doc = document(size);
    bencher.counter(BytesCount::new(doc.len())).bench(|| {
        let v: serde_json::Value = serde_json::from_slice(black_box(&doc)).unwrap();
        serde_json::to_vec(&v).unwrap()
    });
}
