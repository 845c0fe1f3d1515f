//! The declarative test-file format (YAML), modelled on Google Service Extensions' plugin
//! test runner: a plugin and its config, an environment, scripted upstream and http_call
//! answers, then requests with expectations. See `testdata/cases/README.md`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One test file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Human name (defaults to the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// The module and its configuration.
    #[serde(default)]
    pub plugin: PluginSpec,
    /// Clock, workers, log level, env vars.
    #[serde(default)]
    pub env: EnvSpec,
    /// Default upstream answer for every request.
    #[serde(default)]
    pub upstream: Option<ResponseSpec>,
    /// Scripted http_call answers.
    #[serde(default)]
    pub http_calls: Vec<CalloutSpec>,
    /// Backends that must not run this file, with the reason (`envoy: "..."`).
    #[serde(default)]
    pub skip: BTreeMap<String, String>,
    /// The plugin must refuse to load (config error); the text must appear in the error/logs.
    #[serde(default)]
    pub expect_load_failure: Option<LoadFailureSpec>,
    /// Requests, in order, each with expectations.
    #[serde(default)]
    pub requests: Vec<CaseSpec>,
}

/// Which module and configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// Module path (relative to the test file); default: the built edgeguard filter.
    #[serde(default)]
    pub wasm: Option<String>,
    /// Inline configuration: a YAML/JSON object (sent as JSON) or a string (sent as is).
    #[serde(default)]
    pub config: Option<serde_yaml::Value>,
    /// Configuration file (relative to the test file).
    #[serde(default)]
    pub config_file: Option<String>,
    /// `plugin_name` (default `edgeguard`).
    #[serde(default)]
    pub name: Option<String>,
    /// `plugin_root_id` (default `edgeguard`, as the Envoy backend names it).
    #[serde(default)]
    pub root_id: Option<String>,
}

/// The environment.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    /// Fixed start time: RFC 3339 UTC (`2026-01-01T00:00:00Z`) or Unix seconds.
    #[serde(default)]
    pub time: Option<serde_yaml::Value>,
    /// Worker VMs (Envoy `--concurrency`), default 1.
    #[serde(default)]
    pub workers: Option<usize>,
    /// `trace|debug|info|warn|error|critical`, default `info`.
    #[serde(default)]
    pub log_level: Option<crate::state::LogLevel>,
    /// Environment variables the module sees (WASI `environ_get`; Envoy `env.key_values`).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Strict mode (default true).
    #[serde(default)]
    pub strict: Option<bool>,
    /// After-trap policy (`fail_closed` default, `fail_open`, `fail_reload`).
    #[serde(default)]
    pub failure_policy: Option<crate::proxy::FailurePolicy>,
}

/// Expected load failure.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LoadFailureSpec {
    /// Text that must appear in the error or the module's logs.
    #[serde(default)]
    pub contains: Vec<String>,
}

/// A response (upstream answer or http_call answer).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    /// Status (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// Headers.
    #[serde(default)]
    pub headers: HeaderList,
    /// Body text.
    #[serde(default)]
    pub body: Option<String>,
    /// Body as JSON (serialized compactly; sets `content-type: application/json` if absent).
    #[serde(default)]
    pub body_json: Option<serde_yaml::Value>,
    /// Body read from this file (relative to the test file) when the file loads: large
    /// documents for benchmarks. Exclusive with `body` and `body_json`.
    #[serde(default)]
    pub body_file: Option<String>,
    /// Upstream answers only: deliver the body in chunks of these sizes (the rest is the last
    /// chunk): separate body callbacks in-process, separate chunked writes on Envoy.
    #[serde(default)]
    pub chunks: Vec<usize>,
    /// Upstream answers only: trailers after the body.
    #[serde(default)]
    pub trailers: HeaderList,
}

/// Headers as a map (`name: value`) or a list of `[name, value]` pairs (repeats allowed).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(untagged)]
pub enum HeaderList {
    /// `name: value`.
    Map(BTreeMap<String, String>),
    /// `[[name, value], ...]`.
    List(Vec<(String, String)>),
    /// Nothing.
    #[default]
    #[serde(skip)]
    None,
}

impl HeaderList {
    /// As ordered pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            HeaderList::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            HeaderList::List(l) => l.clone(),
            HeaderList::None => Vec::new(),
        }
    }
}

/// A scripted http_call answer.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CalloutSpec {
    /// Cluster to match (default any).
    #[serde(default)]
    pub cluster: Option<String>,
    /// `:path` prefix to match (default any).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// The answer.
    #[serde(default)]
    pub response: Option<ResponseSpec>,
    /// Instead of a response: `timeout`, `reset` or `connect_failure`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// How many calls it answers (default any number).
    #[serde(default)]
    pub times: Option<u32>,
}

/// One request and what must happen.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    /// Case name.
    pub name: String,
    /// The request.
    pub request: RequestSpec,
    /// Upstream answer for this request (overrides the file's).
    #[serde(default)]
    pub upstream: Option<ResponseSpec>,
    /// Move the clock forward this many ms before sending (runs due ticks).
    #[serde(default)]
    pub advance_ms: Option<u64>,
    /// Send it this many times (each one checked), default 1.
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Backends that must not run this case, with the reason.
    #[serde(default)]
    pub skip: BTreeMap<String, String>,
    /// Expectations.
    #[serde(default)]
    pub expect: ExpectSpec,
}

/// A request.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// Path with query, sent as is (not normalized).
    pub path: String,
    /// Host / `:authority` (default `example.com`).
    #[serde(default)]
    pub authority: Option<String>,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Option<String>,
    /// Headers.
    #[serde(default)]
    pub headers: HeaderList,
    /// Body text.
    #[serde(default)]
    pub body: Option<String>,
    /// Body as JSON.
    #[serde(default)]
    pub body_json: Option<serde_yaml::Value>,
    /// Split the body into chunks of these sizes (the rest is the last chunk).
    #[serde(default)]
    pub chunks: Vec<usize>,
    /// `source.address` (`ip:port`), in-process only.
    #[serde(default)]
    pub source_address: Option<String>,
    /// `connection.mtls`, in-process only.
    #[serde(default)]
    pub mtls: Option<bool>,
    /// `connection.uri_san_peer_certificate` (e.g. a SPIFFE ID), in-process only.
    #[serde(default)]
    pub peer_uri_san: Option<String>,
    /// `connection.dns_san_peer_certificate`, in-process only.
    #[serde(default)]
    pub peer_dns_san: Option<String>,
}

/// A header expectation: a plain string means "equals".
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum HeaderExpect {
    /// Exact value.
    Equals(String),
    /// Detailed.
    Detailed(HeaderCheck),
}

/// Detailed header checks (all given must hold).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderCheck {
    /// Present (true) or absent (false).
    #[serde(default)]
    pub present: Option<bool>,
    /// Absent when true.
    #[serde(default)]
    pub absent: Option<bool>,
    /// Exact value.
    #[serde(default)]
    pub equals: Option<String>,
    /// Substring.
    #[serde(default)]
    pub contains: Option<String>,
    /// Regex (must match somewhere).
    #[serde(default)]
    pub regex: Option<String>,
}

/// Body checks.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BodyExpect {
    /// Exact text.
    #[serde(default)]
    pub equals: Option<String>,
    /// Substrings that must appear.
    #[serde(default)]
    pub contains: Vec<String>,
    /// Substrings that must not appear.
    #[serde(default)]
    pub not_contains: Vec<String>,
    /// Regex that must match.
    #[serde(default)]
    pub regex: Option<String>,
    /// JSON equality (key order and whitespace ignored).
    #[serde(default)]
    pub json: Option<serde_yaml::Value>,
    /// Every field given must be present with this value (JSON subset).
    #[serde(default)]
    pub json_includes: Option<serde_yaml::Value>,
}

/// What the upstream must have received.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamExpect {
    /// Whether the request reached the upstream at all.
    #[serde(default)]
    pub reached: Option<bool>,
    /// Header checks on the upstream request.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderExpect>,
    /// Body checks on the upstream request.
    #[serde(default)]
    pub body: Option<BodyExpect>,
}

/// Log checks (over the lines written while this request ran).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogExpect {
    /// Substrings some line must contain.
    #[serde(default)]
    pub contains: Vec<String>,
    /// Regexes some line must match.
    #[serde(default)]
    pub regex: Vec<String>,
    /// Substrings no line may contain (e.g. a token).
    #[serde(default)]
    pub absent: Vec<String>,
}

/// Expectations for one request.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Response status the client sees.
    #[serde(default)]
    pub status: Option<u16>,
    /// True: the filter answered (the upstream was not reached); false: the upstream answered.
    #[serde(default)]
    pub local_reply: Option<bool>,
    /// Response header checks.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderExpect>,
    /// Response body checks.
    #[serde(default)]
    pub body: Option<BodyExpect>,
    /// Response trailer checks (like `headers`).
    #[serde(default)]
    pub trailers: BTreeMap<String, HeaderExpect>,
    /// Upstream checks.
    #[serde(default)]
    pub upstream: Option<UpstreamExpect>,
    /// Log checks.
    #[serde(default)]
    pub logs: Option<LogExpect>,
    /// Metric values after the request (absolute).
    #[serde(default)]
    pub metrics: BTreeMap<String, i64>,
    /// Number of http_calls the request caused (in-process only).
    #[serde(default)]
    pub http_calls: Option<usize>,
    /// The stream must be reset instead of answered.
    #[serde(default)]
    pub reset: Option<bool>,
}
