//! Peak memory of masking: the rewriter allocates its output once (about the body's size) and
//! little else, so body + output stays within about twice the body size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edgeguard::masking::config::MaskingConfig;
use edgeguard::masking::policy::Policy;
use edgeguard::masking::rewriter::{rewrite, Rewritten};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn masking_one_mebibyte_allocates_about_one_body() {
    let mut doc = String::from("[");
    let mut i = 0;
    while doc.len() < 1024 * 1024 - 200 {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(
            r#"{{"id":{i},"name":"user {i}","email":"user{i}@example.com","note":"call 555-0100, card 4111 1111 1111 1111","tags":["a","b"],"score":{i}.5}}"#
        ));
        i += 1;
    }
    doc.push(']');
    let body = doc.into_bytes();
    let policy = Policy::compile(&MaskingConfig::default(), None, "masking").unwrap();
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = rewrite(&policy, &body).unwrap();
    let extra = PEAK.load(Ordering::SeqCst) - before;
    let Rewritten::Masked { body: masked, .. } = out else {
        panic!("nothing masked")
    };
    assert!(masked.len() < body.len() * 9 / 8);
    // The output buffer (reserved once: body + 1/8) plus small scratch buffers.
    assert!(
        extra <= body.len() + body.len() / 8 + 64 * 1024,
        "extra peak {extra} bytes for a {} byte body",
        body.len()
    );
}
