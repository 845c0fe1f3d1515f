//! What the engine needs from its host, and nothing more: the clock, state shared across
//! workers, outbound HTTP calls, metrics and logging. The proxy-wasm adapter implements it over
//! the ABI, the JS adapter over JS, tests over [`memory::MemoryHost`].

pub mod memory;

/// Log levels, in proxy-wasm's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Very verbose.
    Trace,
    /// Debugging.
    Debug,
    /// Normal events.
    Info,
    /// Something odd.
    Warn,
    /// A failure.
    Error,
    /// A bug (panic).
    Critical,
}

/// Result of a compare-and-set on shared data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SharedDataError {
    /// The value changed since it was read (CAS mismatch): re-read and retry.
    CasMismatch,
    /// The host refused (no shared data on this host, or another error).
    Unavailable,
}

/// An outbound HTTP call (e.g. a JWKS fetch) to a named upstream cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallout {
    /// Envoy cluster name (JS hosts: ignored).
    pub cluster: String,
    /// Headers including `:method`, `:path`, `:authority`.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Timeout in milliseconds.
    pub timeout_ms: u64,
}

/// The host services the core may use.
pub trait Host {
    /// Current wall-clock time in nanoseconds since the Unix epoch (the only clock the core reads).
    fn now_nanos(&self) -> u64;
    /// Read a shared value and its CAS token.
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Write a shared value; `cas` 0 writes unconditionally, otherwise only if unchanged.
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedDataError>;
    /// Start an outbound HTTP call; returns a token identifying the answer.
    fn http_call(&self, call: &HttpCallout) -> Result<u32, String>;
    /// Add `delta` to the counter `name` (defined on first use).
    fn count(&self, name: &str, delta: i64);
    /// Write one log line.
    fn log(&self, level: LogLevel, message: &str);

    /// Whether a line at `level` would be written (lets callers skip formatting it).
    fn log_enabled(&self, _level: LogLevel) -> bool {
        true
    }

    /// Current time in whole seconds since the Unix epoch.
    fn now_secs(&self) -> u64 {
        self.now_nanos() / 1_000_000_000
    }
}
