//! edgeguard-test-host: a wasmtime-based proxy-wasm (ABI 0.2.1) host that behaves like Envoy.
//!
//! It runs any proxy-wasm module in-process for tests and benchmarks, runs declarative test
//! files against that in-process host or against a real Envoy, and measures per-request cost.

pub mod demo;
pub mod echo;
pub mod envoy;
pub mod http;
pub mod paths;
