//! edgeguard: an edge security policy engine.
//!
//! One request flows in one direction: a host adapter (proxy-wasm in [`proxy`], wasm-bindgen in
//! `js`) builds a [`request::RequestView`], the host-agnostic [`engine::Engine`] decides, and the
//! adapter applies the [`decision::Decision`]. Everything the engine needs from its host comes
//! through the [`host::Host`] trait, so the same policy code runs in Envoy, workerd, the
//! test-host and plain `cargo test`.

pub mod api_key;
pub mod config;
pub mod decision;
pub mod engine;
pub mod environment;
pub mod events;
pub mod headers;
pub mod host;
pub mod jwt;
pub mod log;
pub mod masking;
pub mod rate_limit;
pub mod request;
pub mod request_policy;
pub mod rules;
pub mod service_auth;

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod proxy;

/// The wasm-bindgen adapter (JavaScript edges). Its translation layer is plain Rust and also
/// compiled for native unit tests; the `#[wasm_bindgen]` surface only for `wasm32-unknown-unknown`.
#[cfg(any(test, all(target_arch = "wasm32", target_os = "unknown")))]
pub mod js;
