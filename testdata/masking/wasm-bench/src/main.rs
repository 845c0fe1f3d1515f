use edgeguard::masking::config::MaskingConfig;
use edgeguard::masking::policy::Policy;
use edgeguard::masking::rewriter::rewrite;
use std::time::Instant;
include!("../../../../filter/benches/masking_data/doc.rs");
fn main() {
    let p = Policy::compile(&MaskingConfig::default(), None, "masking").unwrap();
    for size in [1024usize, 64 * 1024, 1024 * 1024] {
        let doc = document(size);
        let iters = (64 * 1024 * 1024 / doc.len()).max(3);
        let mut best = f64::MAX;
        let mut best_serde = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..iters { std::hint::black_box(rewrite(&p, std::hint::black_box(&doc)).unwrap()); }
            best = best.min(t.elapsed().as_secs_f64() / iters as f64);
            let t = Instant::now();
            for _ in 0..iters.min(64) {
                let v: serde_json::Value = serde_json::from_slice(std::hint::black_box(&doc)).unwrap();
                std::hint::black_box(serde_json::to_vec(&v).unwrap());
            }
            best_serde = best_serde.min(t.elapsed().as_secs_f64() / iters.min(64) as f64);
        }
        println!("{} bytes: edgeguard mask {:.0} MB/s, serde_json parse+serialize {:.0} MB/s",
            doc.len(), doc.len() as f64 / best / 1e6, doc.len() as f64 / best_serde / 1e6);
    }
}
