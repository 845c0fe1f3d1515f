//! The [`Backend`] seam: the same test file runs in-process ([`super::inprocess`]), against a
//! real Envoy ([`super::envoy_backend`]) or any other host that implements it (workerd).

use crate::http::{HttpRequest, HttpResponse, ScriptedResponse};
use crate::proxy::{CalloutScript, FailurePolicy, UpstreamRequest};
use crate::state::{ConnectionProps, LogLevel};
use std::path::PathBuf;

/// Everything a backend needs to start the plugin for one test file.
#[derive(Debug, Clone)]
pub struct PluginSetup {
    /// The module.
    pub wasm: PathBuf,
    /// Plugin configuration bytes (JSON).
    pub config: Vec<u8>,
    /// `plugin_name`.
    pub plugin_name: String,
    /// `plugin_root_id`.
    pub root_id: String,
    /// Worker VMs (Envoy `--concurrency`).
    pub workers: usize,
    /// Env vars for the module.
    pub env: Vec<(String, String)>,
    /// Log level.
    pub log_level: LogLevel,
    /// Strict mode.
    pub strict: bool,
    /// After-trap policy.
    pub failure_policy: FailurePolicy,
    /// Clock start (ns since the epoch); real Envoy uses its own clock.
    pub start_time_nanos: u64,
    /// Scripted http_call answers.
    pub callouts: Vec<CalloutScript>,
}

/// What a backend observed for one request.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// What the client received.
    pub response: HttpResponse,
    /// Response trailers the client received.
    pub trailers: Vec<(String, String)>,
    /// What the upstream received (`None` = not reached).
    pub upstream: Option<UpstreamRequest>,
    /// The stream was reset.
    pub reset: bool,
    /// http_calls made (`None` when the backend cannot tell).
    pub http_calls: Option<usize>,
    /// Host-detected problems (ABI violations, traps, stalls, unexpected calls).
    pub errors: Vec<String>,
}

/// One started plugin.
pub trait Session {
    /// Send one request; `upstream` is what the upstream must answer if reached.
    fn send(
        &mut self,
        request: &HttpRequest,
        connection: Option<&ConnectionProps>,
        upstream: &HttpResponse,
    ) -> Result<Observed, String>;
    /// Send one request whose upstream answer comes with a delivery (body chunks, trailers).
    /// The default ignores the chunking (the outcome must not depend on it) and refuses
    /// trailers, which change what the filter sees.
    fn send_scripted(
        &mut self,
        request: &HttpRequest,
        connection: Option<&ConnectionProps>,
        upstream: &ScriptedResponse,
    ) -> Result<Observed, String> {
        if !upstream.trailers.is_empty() {
            return Err("this backend cannot send upstream trailers; skip this case here".into());
        }
        self.send(request, connection, &upstream.response)
    }
    /// Move the clock forward (`Err` if the backend cannot).
    fn advance(&mut self, millis: u64) -> Result<(), String>;
    /// Every log line the module wrote so far.
    fn logs(&mut self) -> Vec<String>;
    /// A metric's value (summed across workers).
    fn metric(&mut self, name: &str) -> Option<i64>;
}

/// A place test files run.
pub trait Backend {
    /// `inprocess`, `envoy`, ...: the key test files use in `skip:`.
    fn name(&self) -> &str;
    /// Start the plugin. `Err` carries the load error and logs (a refused config).
    fn start(&mut self, setup: &PluginSetup) -> Result<Box<dyn Session>, String>;
}
