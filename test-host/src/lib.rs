//! edgeguard-test-host: a wasmtime-based proxy-wasm (ABI 0.2.1) host that behaves like Envoy.
//!
//! It runs any proxy-wasm module in-process for tests and benchmarks, runs declarative test
//! files against that in-process host or against a real Envoy, and measures per-request cost.

pub mod abi;
pub mod bench;
pub mod demo;
pub mod echo;
pub mod envoy;
pub mod error;
pub mod http;
pub mod paths;
pub mod proxy;
pub mod state;
pub mod testfile;
pub mod vm;

pub use error::HostError;
pub use proxy::{
    CalloutOutcome, CalloutScript, FailurePolicy, Proxy, ProxyOptions, StreamOutcome, Upstream,
    UpstreamRequest,
};
pub use vm::{CompiledModule, Vm, VmLimits};
