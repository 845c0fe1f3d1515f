//! The wasm-bindgen adapter for JavaScript edges (Cloudflare Workers / workerd, Deno): the same
//! engine and the same JSON config as the proxy-wasm build, behind an API shaped for a fetch
//! handler. It owns no policy; it translates JS values into engine calls and back.
//!
//! Layers, one file each:
//! - [`host`]: the [`crate::host::Host`] for one JS isolate (clock passed in per call, logs to a
//!   sink, metrics counted in memory, outbound calls queued for JS to `fetch`).
//! - [`url`]: splitting the request URL into scheme, authority and path.
//! - [`adapter`]: plain-Rust translation (serde inputs/outputs), unit-tested natively.
//! - `bindings`: the `#[wasm_bindgen]` surface (`Engine`, `RequestStream`), compiled only for
//!   `wasm32-unknown-unknown`.
//!
//! State scope: "shared data" (rate-limit counters, replay caches, JWKS) lives in the isolate's
//! memory, so limits are per isolate, not global across Cloudflare's edge. The engine says so in
//! its startup log line.

pub mod adapter;
pub mod host;
pub mod url;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod bindings;
