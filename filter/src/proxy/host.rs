//! [`Host`] over the proxy-wasm ABI.

use crate::host::{Host, HttpCallout, LogLevel, SharedDataError};
use crate::request::ConnectionInfo;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{LogLevel as PwLogLevel, MapType, MetricType, Status};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

thread_local! {
    static METRICS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
    static METRICS_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Turn the metric ABI calls on or off for this VM (config `metrics.enabled`).
pub fn set_metrics_enabled(enabled: bool) {
    METRICS_ENABLED.with(|m| m.set(enabled));
}

/// The proxy-wasm host (stateless: all state lives on the host side).
pub struct ProxyHost;

fn metric_id(name: &str) -> Option<u32> {
    if !METRICS_ENABLED.with(Cell::get) {
        return None;
    }
    METRICS.with(|m| {
        if let Some(id) = m.borrow().get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(MetricType::Counter, name).ok()?;
        m.borrow_mut().insert(name.to_string(), id);
        Some(id)
    })
}

fn level_rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Trace => 0,
        LogLevel::Debug => 1,
        LogLevel::Info => 2,
        LogLevel::Warn => 3,
        LogLevel::Error => 4,
        LogLevel::Critical => 5,
    }
}

/// Define the pipeline's own counters at configure time so they show in `/stats` from the start.
pub fn define_base_metrics() {
    for name in [
        "edgeguard_requests_total",
        "edgeguard_denied_total",
        "edgeguard_config_errors_total",
        "edgeguard_reported_total",
    ] {
        let _ = metric_id(name);
    }
}

impl Host for ProxyHost {
    fn now_nanos(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(v), Some(cas))) => Some((v, cas)),
            Ok((Some(v), None)) => Some((v, 0)),
            _ => None,
        }
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SharedDataError> {
        let cas = if cas == 0 { None } else { Some(cas) };
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(SharedDataError::CasMismatch),
            Err(_) => Err(SharedDataError::Unavailable),
        }
    }

    fn http_call(&self, call: &HttpCallout) -> Result<u32, String> {
        let headers: Vec<(&str, &str)> = call
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let body = if call.body.is_empty() {
            None
        } else {
            Some(call.body.as_slice())
        };
        hostcalls::dispatch_http_call(
            &call.cluster,
            headers,
            body,
            vec![],
            Duration::from_millis(call.timeout_ms),
        )
        .map_err(|s| {
            format!(
                "dispatch_http_call to cluster {:?} failed: {s:?}",
                call.cluster
            )
        })
    }

    fn count(&self, name: &str, delta: i64) {
        if let Some(id) = metric_id(name) {
            let _ = hostcalls::increment_metric(id, delta);
        }
    }

    fn log_enabled(&self, level: LogLevel) -> bool {
        // The host's current level (Envoy: `--component-log-level wasm:...`); unknown → log.
        let current = match hostcalls::get_log_level() {
            Ok(l) => l as u8,
            Err(_) => return true,
        };
        level_rank(level) >= current
    }

    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => PwLogLevel::Trace,
            LogLevel::Debug => PwLogLevel::Debug,
            LogLevel::Info => PwLogLevel::Info,
            LogLevel::Warn => PwLogLevel::Warn,
            LogLevel::Error => PwLogLevel::Error,
            LogLevel::Critical => PwLogLevel::Critical,
        };
        let _ = hostcalls::log(level, message);
    }
}

fn property_string(path: &[&str]) -> Option<String> {
    let bytes = hostcalls::get_property(path.to_vec()).ok()??;
    String::from_utf8(bytes).ok()
}

/// The downstream peer's address (`source.address`, without port).
pub fn source_ip() -> Option<std::net::IpAddr> {
    property_string(&["source", "address"]).and_then(|a| {
        a.parse::<std::net::SocketAddr>()
            .map(|s| s.ip())
            .ok()
            .or_else(|| a.parse().ok())
    })
}

/// Connection facts from Envoy's attributes.
pub fn connection_info() -> ConnectionInfo {
    let source_ip = source_ip();
    let mtls = hostcalls::get_property(vec!["connection", "mtls"])
        .ok()
        .flatten()
        .map(|b| b.first().copied().unwrap_or(0) != 0)
        .unwrap_or(false);
    let sans = |p: &str| {
        property_string(&["connection", p])
            .map(|s| vec![s])
            .unwrap_or_default()
    };
    ConnectionInfo {
        source_ip,
        mtls,
        uri_sans: if mtls {
            sans("uri_san_peer_certificate")
        } else {
            vec![]
        },
        dns_sans: if mtls {
            sans("dns_san_peer_certificate")
        } else {
            vec![]
        },
    }
}

/// Status, headers and body of the http_call response being delivered (status 0 = failed).
pub fn read_call_response(body_size: usize) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let headers = hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default();
    let status = headers
        .iter()
        .find(|(k, _)| k == ":status")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body = if body_size > 0 {
        hostcalls::get_buffer(
            proxy_wasm::types::BufferType::HttpCallResponseBody,
            0,
            body_size,
        )
        .ok()
        .flatten()
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    (status, headers, body)
}
