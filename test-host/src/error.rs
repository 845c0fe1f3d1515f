//! Errors the host reports about a module or a stream, with the exact message users see.

use std::fmt;

/// Something went wrong loading or running a proxy-wasm module.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The file could not be read.
    Io {
        /// Path.
        path: String,
        /// OS error.
        reason: String,
    },
    /// The bytes are not a WebAssembly module (or fail validation).
    NotWasm {
        /// Where they came from.
        source: String,
        /// Compiler message.
        reason: String,
    },
    /// The module does not declare a proxy-wasm ABI version this host implements.
    NotProxyWasm {
        /// ABI exports found (may be empty).
        found: Vec<String>,
    },
    /// The module imports a function the host does not provide (strict mode).
    MissingImport {
        /// `env`, `wasi_snapshot_preview1`, ...
        module: String,
        /// Function name.
        name: String,
    },
    /// Instantiation failed for another reason (start function trap, memory limits...).
    Instantiate {
        /// Message.
        reason: String,
    },
    /// A callback trapped (panic, unreachable, out-of-bounds access, proc_exit...).
    Trap {
        /// Callback name (`proxy_on_request_headers`).
        callback: String,
        /// Trap message.
        reason: String,
    },
    /// A callback used up its fuel budget.
    OutOfFuel {
        /// Callback name.
        callback: String,
        /// The budget.
        limit: u64,
    },
    /// `proxy_on_vm_start` or `proxy_on_configure` returned false: the plugin refuses to load.
    StartRefused {
        /// `proxy_on_vm_start` / `proxy_on_configure`.
        callback: String,
    },
    /// The module broke the ABI (strict mode).
    AbiViolation {
        /// Every violation, each naming the host function and callback.
        messages: Vec<String>,
    },
    /// The module made an http_call no script answers (strict mode).
    UnexpectedHttpCall {
        /// Cluster.
        cluster: String,
        /// `:method :path` of the call.
        request: String,
    },
    /// The stream paused and nothing resumed it (in Envoy it would hang until a timeout).
    Stalled {
        /// Where it stopped.
        at: String,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Io { path, reason } => write!(f, "cannot read {path}: {reason}"),
            HostError::NotWasm { source, reason } => {
                write!(f, "{source} is not a valid WebAssembly module: {reason}")
            }
            HostError::NotProxyWasm { found } if found.is_empty() => write!(
                f,
                "not a proxy-wasm module: it exports no proxy_abi_version_* function (this host implements proxy_abi_version_0_2_1)"
            ),
            HostError::NotProxyWasm { found } => write!(
                f,
                "unsupported proxy-wasm ABI: module exports {}; this host implements proxy_abi_version_0_2_1 (and 0_2_0)",
                found.join(", ")
            ),
            HostError::MissingImport { module, name } => write!(
                f,
                "module imports {module}.{name}, which this host does not provide"
            ),
            HostError::Instantiate { reason } => write!(f, "instantiation failed: {reason}"),
            HostError::Trap { callback, reason } => write!(f, "trap in {callback}: {reason}"),
            HostError::OutOfFuel { callback, limit } => {
                write!(f, "{callback} ran out of fuel (budget {limit} per callback)")
            }
            HostError::StartRefused { callback } => {
                write!(f, "{callback} returned false: the plugin refused to start")
            }
            HostError::AbiViolation { messages } => {
                write!(f, "ABI violation: {}", messages.join("; "))
            }
            HostError::UnexpectedHttpCall { cluster, request } => write!(
                f,
                "unexpected http_call to cluster {cluster:?} ({request}): no scripted response matches"
            ),
            HostError::Stalled { at } => write!(
                f,
                "stream stalled: {at} paused and nothing resumed it (Envoy would wait for a timeout)"
            ),
        }
    }
}

impl std::error::Error for HostError {}
