//! Masking throughput on generated JSON documents (1 KiB, 64 KiB, 1 MiB) with about 5% of the
//! fields sensitive, next to serde_json parse + serialize of the same documents.
//!
//! Run: `cargo bench -p edgeguard --bench masking`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use edgeguard::masking::config::MaskingConfig;
use edgeguard::masking::policy::Policy;
use edgeguard::masking::rewriter::{rewrite, Rewritten};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[1024, 64 * 1024, 1024 * 1024];

/// A deterministic document of about `target` bytes: an array of records, each with 20
/// fields, one of which is sensitive (an e-mail, phone, card or SSN under a sensitive key).
pub fn document(target: usize) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    let mut out = String::from("[");
    let mut i = 0u64;
    while out.len() + 600 < target.max(700) || i == 0 {
        if i > 0 {
            out.push(',');
        }
        let r = next();
        let w = |k: u64| words[((r >> k) % 8) as usize];
        let sensitive = match r % 4 {
            0 => format!("\"email\":\"{}.{}@example.com\"", w(3), i),
            1 => format!("\"phone\":\"+1 (555) {:03}-{:04}\"", r % 1000, i % 10000),
            2 => "\"card_number\":\"4111 1111 1111 1111\"".to_string(),
            _ => format!(
                "\"ssn\":\"{:03}-{:02}-{:04}\"",
                r % 900 + 100,
                r % 90 + 10,
                i % 10000
            ),
        };
        out.push_str(&format!(
            "{{\"id\":{i},\"name\":\"{} {}\",\"title\":\"{} of {}\",\"active\":{},\"score\":{}.{},\
\"created\":\"2026-11-{:02}T12:00:00Z\",\"tags\":[\"{}\",\"{}\"],\"city\":\"{}\",\"country\":\"NL\",\
\"note\":\"{} {} {} {}\",\"count\":{},\"ratio\":0.{},\"parent\":null,\"kind\":\"{}\",\"lang\":\"en\",\
\"zip\":\"{}\",\"level\":{},{}}}",
            w(5), w(8), w(11), w(14), r % 2 == 0, r % 100, r % 10, r % 28 + 1, w(17), w(20),
            w(23), w(26), w(29), w(32), w(35), r % 1000, r % 997, w(38), r % 90000 + 10000,
            r % 10, sensitive
        ));
        i += 1;
    }
    out.push(']');
    out.into_bytes()
}

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
