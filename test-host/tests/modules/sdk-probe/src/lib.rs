//! A probe module built with the proxy-wasm Rust SDK. The request path picks one host-function
//! area; the module reports what the host answered in request headers (seen by the upstream)
//! or response headers (seen by the client), so the same test file can compare hosts.
//!
//! | path | area | where the answer shows |
//! |---|---|---|
//! | `/headers` | header maps: get, add, replace, remove, pairs (request and response) | upstream headers, response headers |
//! | `/local` | `send_local_response` | the local reply |
//! | `/props` | properties: request, plugin, set then get | upstream headers |
//! | `/shared` | shared data with CAS (increment, stale CAS) | response headers |
//! | `/queue` | shared queues: register, resolve, enqueue, dequeue | response headers |
//! | `/metrics` | metrics: define, increment, record, get | response headers |
//! | `/callout/...` | `http_call` and the callout response (`?cluster=`, `?timeout_ms=`) | upstream headers |
//! | `/body` | request and response bodies: get, set | upstream body, response body |
//! | `/time` | current time, log level | response headers |
//! | `/grpc`, `/foreign` | gRPC call, foreign function: the status code a host returns | response headers |
//! | `/log` | logging | the host's log |
//!
//! gRPC and foreign-function status codes come from the raw ABI calls (the SDK would panic on
//! some of them); everything else goes through the SDK.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType, Status};
use std::cell::Cell;
use std::time::{Duration, UNIX_EPOCH};

thread_local! {
    static QUEUE_ID: Cell<u32> = const { Cell::new(0) };
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_grpc_call(
        upstream_data: *const u8,
        upstream_size: usize,
        service_name_data: *const u8,
        service_name_size: usize,
        method_name_data: *const u8,
        method_name_size: usize,
        initial_metadata_data: *const u8,
        initial_metadata_size: usize,
        grpc_message_data: *const u8,
        grpc_message_size: usize,
        timeout_milliseconds: u32,
        return_callout_id: *mut u32,
    ) -> u32;
    fn proxy_grpc_stream(
        upstream_data: *const u8,
        upstream_size: usize,
        service_name_data: *const u8,
        service_name_size: usize,
        method_name_data: *const u8,
        method_name_size: usize,
        initial_metadata_data: *const u8,
        initial_metadata_size: usize,
        return_stream_id: *mut u32,
    ) -> u32;
    fn proxy_grpc_cancel(token: u32) -> u32;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(ProbeRoot) });
}}

struct ProbeRoot;

impl Context for ProbeRoot {}

impl RootContext for ProbeRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let _ = hostcalls::log(
            LogLevel::Info,
            &format!("probe configured with {} bytes", config.len()),
        );
        QUEUE_ID.with(|q| q.set(self.register_shared_queue("probe-queue")));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(ProbeStream::default()))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

#[derive(Default)]
struct ProbeStream {
    path: String,
    /// Response headers to set once the response headers arrive.
    response_headers: Vec<(String, String)>,
}

fn status_code(s: Status) -> String {
    (s as u32).to_string()
}

fn query_param<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

impl ProbeStream {
    fn respond_later(&mut self, name: &str, value: impl Into<String>) {
        self.response_headers.push((name.to_string(), value.into()));
    }

    fn property(&self, path: &[&str]) -> String {
        match hostcalls::get_property(path.to_vec()) {
            Ok(Some(v)) => String::from_utf8_lossy(&v).into_owned(),
            Ok(None) => "<none>".into(),
            Err(s) => format!("<status {}>", status_code(s)),
        }
    }

    fn headers(&mut self) -> Action {
        let x_in = self.get_http_request_header("x-in").unwrap_or_default();
        self.add_http_request_header("x-out", &format!("got {x_in}"));
        self.set_http_request_header("x-replace", Some("replaced"));
        self.remove_http_request_header("x-remove");
        let pairs = self.get_http_request_headers();
        let has_method = pairs.iter().any(|(k, v)| k == ":method" && v == "GET");
        self.add_http_request_header("x-pairs-have-method", &has_method.to_string());
        Action::Continue
    }

    fn props(&mut self) -> Action {
        for (header, path) in [
            ("x-prop-path", vec!["request", "path"]),
            ("x-prop-url-path", vec!["request", "url_path"]),
            ("x-prop-query", vec!["request", "query"]),
            ("x-prop-method", vec!["request", "method"]),
            ("x-prop-host", vec!["request", "host"]),
            ("x-prop-scheme", vec!["request", "scheme"]),
            ("x-prop-header", vec!["request", "headers", "x-probe-in"]),
            ("x-prop-plugin-name", vec!["plugin_name"]),
            ("x-prop-root-id", vec!["plugin_root_id"]),
            ("x-prop-unknown", vec!["no", "such", "property"]),
        ] {
            let value = self.property(&path);
            self.add_http_request_header(header, &value);
        }
        let set = hostcalls::set_property(vec!["probe_flag"], Some(b"on"));
        self.add_http_request_header(
            "x-prop-set-status",
            &set.err().map(status_code).unwrap_or_else(|| "0".into()),
        );
        Action::Continue
    }

    fn shared(&mut self) -> Action {
        let key = "probe-counter";
        let mut attempts = 0;
        let (count, cas) = loop {
            attempts += 1;
            let (value, cas) = self.get_shared_data(key);
            let current: u64 = value
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let next = current + 1;
            match self.set_shared_data(key, Some(next.to_string().as_bytes()), cas) {
                Ok(()) => break (next, cas),
                Err(_) if attempts < 10 => continue,
                Err(s) => {
                    self.respond_later("x-shared-error", status_code(s));
                    return Action::Continue;
                }
            }
        };
        self.respond_later("x-shared-count", count.to_string());
        // The CAS we read before our own write is stale now: the host must refuse it.
        if let Some(stale) = cas {
            let r = self.set_shared_data(key, Some(b"0"), Some(stale));
            self.respond_later(
                "x-shared-stale-cas",
                r.err().map(status_code).unwrap_or_else(|| "0".into()),
            );
        }
        let (missing, _) = self.get_shared_data("probe-never-set");
        self.respond_later("x-shared-missing", missing.is_none().to_string());
        Action::Continue
    }

    fn queue(&mut self) -> Action {
        let id = QUEUE_ID.with(Cell::get);
        let vm_id = self.property(&["plugin_vm_id"]);
        let resolved = hostcalls::resolve_shared_queue(&vm_id, "probe-queue");
        self.respond_later(
            "x-queue-resolved",
            match resolved {
                Ok(Some(r)) => (r == id).to_string(),
                Ok(None) => "none".into(),
                Err(s) => status_code(s),
            },
        );
        let unknown = hostcalls::resolve_shared_queue(&vm_id, "no-such-queue");
        self.respond_later("x-queue-unknown", format!("{unknown:?}"));
        let enq = self.enqueue_shared_queue(id, Some(b"hello"));
        self.respond_later("x-queue-enqueue", format!("{enq:?}"));
        let deq = self.dequeue_shared_queue(id);
        self.respond_later(
            "x-queue-dequeued",
            match deq {
                Ok(Some(v)) => String::from_utf8_lossy(&v).into_owned(),
                Ok(None) => "empty".into(),
                Err(s) => status_code(s),
            },
        );
        let again = self.dequeue_shared_queue(id);
        self.respond_later("x-queue-again", format!("{again:?}"));
        Action::Continue
    }

    fn metrics(&mut self) -> Action {
        let counter = hostcalls::define_metric(MetricType::Counter, "probe_requests_total");
        let gauge = hostcalls::define_metric(MetricType::Gauge, "probe_gauge");
        match (counter, gauge) {
            (Ok(c), Ok(g)) => {
                let _ = hostcalls::increment_metric(c, 1);
                let _ = hostcalls::record_metric(g, 42);
                let cv = hostcalls::get_metric(c).map_err(status_code);
                let gv = hostcalls::get_metric(g).map_err(status_code);
                self.respond_later("x-metric-counter", format!("{cv:?}"));
                self.respond_later("x-metric-gauge", format!("{gv:?}"));
            }
            (c, g) => self.respond_later("x-metric-error", format!("{c:?} {g:?}")),
        }
        Action::Continue
    }

    fn callout(&mut self) -> Action {
        let cluster = query_param(&self.path, "cluster").unwrap_or("probe_service");
        let timeout_ms: u32 = query_param(&self.path, "timeout_ms")
            .and_then(|t| t.parse().ok())
            .unwrap_or(2000);
        let call_path = self
            .path
            .split('?')
            .next()
            .unwrap_or("/callout")
            .to_string();
        // Through the SDK: its dispatcher routes the answer back to this context by token.
        match self.dispatch_http_call(
            cluster,
            vec![
                (":method", "GET"),
                (":path", &call_path),
                (":authority", "probe.internal"),
                ("x-from-probe", "1"),
            ],
            None,
            vec![],
            Duration::from_millis(u64::from(timeout_ms)),
        ) {
            Ok(_) => Action::Pause,
            Err(s) => {
                self.add_http_request_header("x-callout-dispatch", &status_code(s));
                Action::Continue
            }
        }
    }

    fn time(&mut self) -> Action {
        let now = self
            .get_current_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        // 2020-01-01 .. 2100-01-01: a wall clock (or a test clock set in that range).
        let sane = (1_577_836_800..4_102_444_800).contains(&now);
        self.respond_later("x-time-sane", sane.to_string());
        let level = hostcalls::get_log_level().map(|l| l as u32);
        self.respond_later("x-log-level-ok", level.is_ok().to_string());
        Action::Continue
    }

    fn grpc(&mut self) -> Action {
        let cluster = "no_such_grpc_cluster";
        let (service, method) = ("probe.Probe", "Ping");
        let mut token = 0u32;
        // SAFETY: every pointer/length pair points into a live local buffer for the call.
        let status = unsafe {
            proxy_grpc_call(
                cluster.as_ptr(),
                cluster.len(),
                service.as_ptr(),
                service.len(),
                method.as_ptr(),
                method.len(),
                std::ptr::null(),
                0,
                std::ptr::null(),
                0,
                1000,
                &mut token,
            )
        };
        self.respond_later("x-grpc-status", status.to_string());
        let mut stream = 0u32;
        // SAFETY: every pointer/length pair points into a live local buffer for the call.
        let status = unsafe {
            proxy_grpc_stream(
                cluster.as_ptr(),
                cluster.len(),
                service.as_ptr(),
                service.len(),
                method.as_ptr(),
                method.len(),
                std::ptr::null(),
                0,
                &mut stream,
            )
        };
        self.respond_later("x-grpc-stream-status", status.to_string());
        // SAFETY: no pointers; an unknown token.
        let status = unsafe { proxy_grpc_cancel(12345) };
        self.respond_later("x-grpc-cancel-status", status.to_string());
        Action::Continue
    }

    fn foreign(&mut self) -> Action {
        let name = "no_such_function";
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size = 0usize;
        // SAFETY: the name is a live local buffer; the host writes the two out-parameters.
        let status = unsafe {
            proxy_call_foreign_function(
                name.as_ptr(),
                name.len(),
                std::ptr::null(),
                0,
                &mut data,
                &mut size,
            )
        };
        self.respond_later("x-foreign-status", status.to_string());
        Action::Continue
    }
}

impl Context for ProbeStream {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if num_headers == 0 {
            self.set_http_request_header("x-callout-status", Some("failed"));
        } else {
            let status = self
                .get_http_call_response_header(":status")
                .unwrap_or_default();
            let answer = self
                .get_http_call_response_header("x-answer")
                .unwrap_or_default();
            let body = self
                .get_http_call_response_body(0, body_size)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            self.set_http_request_header("x-callout-status", Some(&status));
            self.set_http_request_header("x-callout-answer", Some(&answer));
            self.set_http_request_header("x-callout-body", Some(&body));
        }
        self.resume_http_request();
    }
}

impl HttpContext for ProbeStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.path = self.get_http_request_header(":path").unwrap_or_default();
        let route = self.path.split('?').next().unwrap_or("").to_string();
        match route.as_str() {
            "/headers" => self.headers(),
            "/local" => {
                self.send_http_response(
                    418,
                    vec![("x-probe", "local"), ("content-type", "text/plain")],
                    Some(b"short and stout"),
                );
                Action::Pause
            }
            "/props" => self.props(),
            "/shared" => self.shared(),
            "/queue" => self.queue(),
            "/metrics" => self.metrics(),
            "/time" => self.time(),
            "/grpc" => self.grpc(),
            "/foreign" => self.foreign(),
            "/log" => {
                let _ = hostcalls::log(LogLevel::Info, &format!("probe log for {}", self.path));
                let _ = hostcalls::log(LogLevel::Trace, "probe trace line");
                Action::Continue
            }
            r if r.starts_with("/callout") => self.callout(),
            _ => Action::Continue,
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.path.starts_with("/body") {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        if let Some(body) = self.get_http_request_body(0, body_size) {
            // Same length, so a content-length already sent upstream stays right.
            let upper = body.to_ascii_uppercase();
            self.set_http_request_body(0, body_size, &upper);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        for (k, v) in std::mem::take(&mut self.response_headers) {
            self.set_http_response_header(&k, Some(&v));
        }
        if self.path.starts_with("/headers") {
            let status = self.get_http_response_header(":status").unwrap_or_default();
            self.set_http_response_header("x-probe-upstream-status", Some(&status));
            self.remove_http_response_header("x-upstream-remove");
            self.add_http_response_header("x-probe-response", "seen");
        }
        if self.path.starts_with("/body") {
            self.remove_http_response_header("content-length");
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.path.starts_with("/body") {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let original = self
            .get_http_response_body(0, body_size)
            .map(|b| b.len())
            .unwrap_or(0);
        self.set_http_response_body(
            0,
            body_size,
            format!("probe saw {original} bytes").as_bytes(),
        );
        Action::Continue
    }
}
