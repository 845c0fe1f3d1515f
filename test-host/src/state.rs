//! Host-side state: what one VM's `Store` holds ([`HostState`]) and what all VMs of one plugin
//! share ([`SharedHost`]: shared data, queues, metrics, logs, the clock). No globals, so any
//! number of hosts run in parallel in one process.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// proxy-wasm `WasmResult` codes (ABI 0.2.1).
#[allow(missing_docs)]
pub mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const BAD_ARGUMENT: i32 = 2;
    pub const SERIALIZATION_FAILURE: i32 = 3;
    pub const PARSE_FAILURE: i32 = 4;
    pub const INVALID_MEMORY_ACCESS: i32 = 6;
    pub const EMPTY: i32 = 7;
    pub const CAS_MISMATCH: i32 = 8;
    pub const UNIMPLEMENTED: i32 = 12;
}

/// Log levels as the ABI numbers them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// 0
    Trace,
    /// 1
    Debug,
    /// 2
    Info,
    /// 3
    Warn,
    /// 4
    Error,
    /// 5
    Critical,
}

impl LogLevel {
    /// From the ABI number; `None` for anything else (an ABI misuse).
    pub fn from_abi(n: i32) -> Option<LogLevel> {
        Some(match n {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }

    /// The ABI number.
    pub fn to_abi(self) -> i32 {
        self as i32
    }
}

/// One log line a module wrote (through `proxy_log` or WASI stdout/stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Which worker VM wrote it.
    pub worker: usize,
    /// Level.
    pub level: LogLevel,
    /// Text.
    pub message: String,
}

/// Metric kinds (`proxy_define_metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic counter.
    Counter,
    /// Settable gauge.
    Gauge,
    /// Histogram (values recorded, not readable back).
    Histogram,
}

/// One metric: like Envoy, a name defined in several VMs is the same stat (summed).
#[derive(Debug, Clone)]
pub struct Metric {
    /// Name as defined.
    pub name: String,
    /// Kind.
    pub kind: MetricKind,
    /// Counter/gauge value; for histograms the sum of recorded values.
    pub value: i64,
    /// Number of values recorded into a histogram.
    pub samples: u64,
}

/// A shared queue.
#[derive(Debug, Default)]
pub struct Queue {
    /// VM id + name it was registered under.
    pub vm_id: String,
    /// Name.
    pub name: String,
    /// Worker and root context that registered it (they get `on_queue_ready`).
    pub owner: (usize, u32),
    /// Pending items.
    pub items: VecDeque<Vec<u8>>,
}

/// All state the VMs of one plugin share.
#[derive(Debug, Default)]
pub struct SharedHost {
    /// Shared data: key → (value, cas).
    pub data: Mutex<HashMap<String, (Vec<u8>, u32)>>,
    /// Last CAS value handed out (never 0 for a stored value).
    pub cas_counter: AtomicU64,
    /// Queues by id (id = index + 1).
    pub queues: Mutex<Vec<Queue>>,
    /// Queue-ready notifications not delivered yet: (worker, root context, queue id).
    pub queue_ready: Mutex<Vec<(usize, u32, u32)>>,
    /// Metrics by id (id = index + 1).
    pub metrics: Mutex<Vec<Metric>>,
    /// Every log line, in order.
    pub logs: Mutex<Vec<LogRecord>>,
    /// The controllable clock, nanoseconds since the Unix epoch.
    pub clock_nanos: AtomicU64,
}

/// Lock a mutex, recovering the data if another thread panicked while holding it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl SharedHost {
    /// Current time of the controllable clock.
    pub fn now_nanos(&self) -> u64 {
        self.clock_nanos.load(Ordering::SeqCst)
    }

    /// Next CAS value.
    pub fn next_cas(&self) -> u32 {
        let n = self.cas_counter.fetch_add(1, Ordering::SeqCst) + 1;
        (n % u64::from(u32::MAX)) as u32 + 1
    }

    /// Value of a metric by name (summed across VMs, as Envoy's `/stats` shows it).
    pub fn metric(&self, name: &str) -> Option<i64> {
        lock(&self.metrics)
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }

    /// Snapshot of all metrics as (name, value).
    pub fn metrics_snapshot(&self) -> Vec<(String, i64)> {
        lock(&self.metrics)
            .iter()
            .map(|m| (m.name.clone(), m.value))
            .collect()
    }

    /// Snapshot of all log lines.
    pub fn logs_snapshot(&self) -> Vec<LogRecord> {
        lock(&self.logs).clone()
    }
}

/// Plugin-wide settings every VM reads.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    /// Plugin configuration bytes (`BufferType::PluginConfiguration`).
    pub plugin_config: Vec<u8>,
    /// VM configuration bytes (`BufferType::VmConfiguration`).
    pub vm_config: Vec<u8>,
    /// `plugin_name` property.
    pub plugin_name: String,
    /// `plugin_root_id` property (also the root context's root id).
    pub root_id: String,
    /// `plugin_vm_id` property / vm_id for queues.
    pub vm_id: String,
    /// Level below which `proxy_log` lines are dropped (Envoy's `wasm` logger level).
    pub log_level: LogLevel,
    /// WASI environment variables (`environ_get`).
    pub env: Vec<(String, String)>,
    /// Strict mode: ABI misuse and unexpected calls are errors.
    pub strict: bool,
    /// Node-level properties a test sets (`node.id`, ...), raw bytes by dotted path.
    pub extra_properties: Vec<(String, Vec<u8>)>,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            plugin_config: Vec::new(),
            vm_config: Vec::new(),
            plugin_name: "edgeguard".to_string(),
            root_id: String::new(),
            vm_id: String::new(),
            log_level: LogLevel::Info,
            env: Vec::new(),
            strict: true,
            extra_properties: Vec::new(),
        }
    }
}

/// Connection facts the stream's properties expose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionProps {
    /// `source.address` (`ip:port`).
    pub source_address: String,
    /// `destination.address` (`ip:port`).
    pub destination_address: String,
    /// `connection.mtls`.
    pub mtls: bool,
    /// `connection.uri_san_peer_certificate`.
    pub uri_san_peer: Option<String>,
    /// `connection.dns_san_peer_certificate`.
    pub dns_san_peer: Option<String>,
    /// `connection.id`.
    pub id: u64,
}

impl Default for ConnectionProps {
    fn default() -> Self {
        ConnectionProps {
            source_address: "127.0.0.1:40000".to_string(),
            destination_address: "127.0.0.1:10000".to_string(),
            mtls: false,
            uri_san_peer: None,
            dns_san_peer: None,
            id: 1,
        }
    }
}

/// A local reply the module asked for with `proxy_send_local_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReplyRecord {
    /// Status.
    pub status: u16,
    /// `details` argument (Envoy's response code details).
    pub details: String,
    /// Headers as given.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// gRPC status argument (-1/out of range = none).
    pub grpc_status: i32,
}

/// Per-HTTP-stream state (one per context id).
#[derive(Debug, Default, Clone)]
pub struct StreamState {
    /// Request headers (incl. pseudo-headers), mutable by the module until sent upstream.
    pub request_headers: Vec<(String, String)>,
    /// Request body buffered at this filter (what `HttpRequestBody` shows).
    pub request_body: Vec<u8>,
    /// Request trailers.
    pub request_trailers: Vec<(String, String)>,
    /// Response headers.
    pub response_headers: Vec<(String, String)>,
    /// Response body buffered at this filter.
    pub response_body: Vec<u8>,
    /// Response trailers.
    pub response_trailers: Vec<(String, String)>,
    /// A local reply requested during the current callback.
    pub local_reply: Option<LocalReplyRecord>,
    /// `proxy_continue_stream(HttpRequest)` was called.
    pub resume_request: bool,
    /// `proxy_continue_stream(HttpResponse)` was called.
    pub resume_response: bool,
    /// `proxy_close_stream` was called.
    pub closed: bool,
    /// Connection facts.
    pub connection: ConnectionProps,
    /// Properties the module set on this stream (`proxy_set_property`).
    pub set_properties: HashMap<String, Vec<u8>>,
    /// Response code once known.
    pub response_code: Option<u16>,
    /// The request headers went on to the next filter: like Envoy, the module can no longer
    /// read or change them (BadArgument).
    pub request_headers_released: bool,
    /// The response headers went on towards the client (same rule).
    pub response_headers_released: bool,
}

/// Where an outbound http_call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchedCall {
    /// Token handed to the module.
    pub token: u32,
    /// Context that was effective when it was dispatched.
    pub context_id: u32,
    /// Cluster name.
    pub cluster: String,
    /// Headers (incl. `:method`, `:path`, `:authority`).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Timeout in ms.
    pub timeout_ms: u32,
}

/// The http_call response being delivered in `proxy_on_http_call_response`.
#[derive(Debug, Clone, Default)]
pub struct CalloutResponse {
    /// Headers incl. `:status` (empty when the call failed).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: Vec<(String, String)>,
}

/// Everything one VM's `Store` carries.
pub struct HostState {
    /// Worker index of this VM.
    pub worker: usize,
    /// State shared with the other VMs of the plugin.
    pub shared: Arc<SharedHost>,
    /// Plugin-wide settings.
    pub settings: Arc<PluginSettings>,
    /// Root context id of this VM.
    pub root_context_id: u32,
    /// Context the current host calls act on.
    pub effective_context: u32,
    /// Name of the callback running now (for error messages).
    pub callback: &'static str,
    /// Per-stream state by context id.
    pub streams: HashMap<u32, StreamState>,
    /// Tick period the module asked for (0 = off).
    pub tick_period_ms: u32,
    /// http_calls dispatched and not answered yet.
    pub dispatched: Vec<DispatchedCall>,
    /// Every http_call dispatched (for expectations).
    pub call_log: Vec<DispatchedCall>,
    /// Next http_call token.
    pub next_token: u32,
    /// The http_call response being delivered now.
    pub callout_response: Option<CalloutResponse>,
    /// Clusters http_call accepts (`None` = any).
    pub known_clusters: Option<Vec<String>>,
    /// ABI misuses seen (strict mode turns them into errors).
    pub abi_errors: Vec<String>,
    /// `proxy_done` was called by these contexts.
    pub done_called: Vec<u32>,
    /// VM-level properties set by the module.
    pub vm_properties: HashMap<String, Vec<u8>>,
    /// Deterministic random state for `random_get`.
    pub rng: u64,
    /// Resource limits of the store.
    pub limits: wasmtime::StoreLimits,
    /// Features a profile forbids (`http_call`, `timers`, `metrics`, `shared_data`): using them
    /// is an ABI error naming the feature.
    pub forbidden: Vec<&'static str>,
    /// Uses of forbidden features (`proxy_define_metric during proxy_on_configure: ...`).
    pub profile_violations: Vec<String>,
}

impl HostState {
    /// Fresh state for worker `worker`.
    pub fn new(
        worker: usize,
        shared: Arc<SharedHost>,
        settings: Arc<PluginSettings>,
        limits: wasmtime::StoreLimits,
    ) -> HostState {
        HostState {
            worker,
            shared,
            settings,
            root_context_id: 1,
            effective_context: 1,
            callback: "",
            streams: HashMap::new(),
            tick_period_ms: 0,
            dispatched: Vec::new(),
            call_log: Vec::new(),
            next_token: 1,
            callout_response: None,
            known_clusters: None,
            abi_errors: Vec::new(),
            done_called: Vec::new(),
            vm_properties: HashMap::new(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (worker as u64 + 1),
            limits,
            forbidden: Vec::new(),
            profile_violations: Vec::new(),
        }
    }

    /// Record an ABI misuse, naming the host function and the callback it happened in.
    pub fn abi_error(&mut self, function: &str, what: impl std::fmt::Display) {
        let cb = if self.callback.is_empty() {
            "(no callback)"
        } else {
            self.callback
        };
        self.abi_errors
            .push(format!("{function} during {cb}: {what}"));
    }

    /// Check a feature against the active profile: a forbidden use is recorded as a violation
    /// (the call still proceeds, so a bench run measures the whole request). Always true.
    pub fn check_allowed(&mut self, feature: &'static str, function: &str) -> bool {
        if self.forbidden.contains(&feature) {
            let cb = if self.callback.is_empty() {
                "(no callback)"
            } else {
                self.callback
            };
            let v = format!("{function} during {cb}: {feature} is not available in this profile");
            if !self.profile_violations.contains(&v) {
                self.profile_violations.push(v);
            }
        }
        true
    }

    /// The stream the effective context refers to, if it is a stream.
    pub fn stream(&mut self) -> Option<&mut StreamState> {
        let id = self.effective_context;
        self.streams.get_mut(&id)
    }

    /// Append one log line (if at or above the configured level).
    pub fn log(&self, level: LogLevel, message: String) {
        if level >= self.settings.log_level {
            lock(&self.shared.logs).push(LogRecord {
                worker: self.worker,
                level,
                message,
            });
        }
    }

    /// Next pseudo-random u64 (xorshift; deterministic per worker).
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}
