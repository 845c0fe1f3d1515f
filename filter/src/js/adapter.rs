//! Translation between fetch-handler values and engine calls, in plain Rust so it is tested
//! natively; `bindings` only moves these types across the JS boundary (as JSON) and attaches
//! bodies as `Uint8Array`s.
//!
//! Request flow: [`JsEngine::on_request`] → `continue` (header changes for the upstream
//! request) | `respond` (a local reply) | `needBody` (call [`JsEngine::on_request_body`]) |
//! `fetch` (outbound requests, e.g. JWKS: fetch each and hand the answer to
//! [`JsEngine::on_fetch_response`]; with no new requests, another request's fetch is in flight:
//! wait for it; then [`JsEngine::resume`] the stream). Response flow: [`JsEngine::on_response`] → header
//! changes and whether the body is needed → [`JsEngine::on_response_body`] → keep, replace, or
//! a replacement response.

use super::host::{JsHost, LogSink};
use super::url::split_url;
use crate::config::ConfigError;
use crate::decision::{HeaderMutations, LocalReply, RequestAction, ResponseBodyAction};
use crate::engine::{Engine, Stream};
use crate::host::{Host, LogLevel};
use crate::request::{ConnectionInfo, RequestView};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// How often (engine clock) the periodic work (`on_tick`: JWKS refresh, cache sweeps) runs; a
/// worker has no timers, so it runs on the first call after this much time has passed.
const TICK_INTERVAL_NANOS: u64 = 1_000_000_000;

/// The request as the fetch handler sees it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestInput {
    /// HTTP method.
    pub method: String,
    /// Absolute URL (`request.url`).
    pub url: String,
    /// Header pairs (`[...request.headers]`), any case.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The client's IP (on Cloudflare: `CF-Connecting-IP`); unparsable values count as unknown.
    #[serde(default)]
    pub client_ip: Option<String>,
    /// `Date.now()`: milliseconds since the Unix epoch (the engine's only clock).
    pub now: f64,
}

/// An upstream (or local) response's status and headers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseInput {
    /// HTTP status (0 for a failed `fetch` answer).
    pub status: u16,
    /// Header pairs, any case.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// `Date.now()`.
    pub now: f64,
}

/// An outbound request the JS side must `fetch` for the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchRequest {
    /// Pass back to `onFetchResponse`.
    pub token: u32,
    /// HTTP method.
    pub method: String,
    /// Absolute URL built from `:scheme` (default `https`), `:authority` and `:path`.
    pub url: String,
    /// Regular headers.
    pub headers: Vec<(String, String)>,
    /// Abort the fetch after this long and report status 0.
    pub timeout_ms: u64,
    /// The request body (attached as a `Uint8Array` by the bindings, when not empty).
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum RequestOutcome {
    /// Send it to the origin after these header changes (remove first, then set, then add).
    Continue {
        /// Header names to delete.
        remove_headers: Vec<String>,
        /// Headers to set (replace).
        set_headers: Vec<(String, String)>,
        /// Header values to append.
        add_headers: Vec<(String, String)>,
        /// Matched rule name (`-` when none), for the worker's own logs.
        rule: String,
    },
    /// Answer with this response; the origin is not called.
    Respond {
        /// Status.
        status: u16,
        /// Response headers.
        headers: Vec<(String, String)>,
        /// Machine-readable reason (`bad_request`, `jwt_missing`, ...).
        reason: String,
        /// Body (attached as a `Uint8Array` by the bindings).
        #[serde(skip)]
        body: Vec<u8>,
    },
    /// Read the whole request body and pass it to `onRequestBody`.
    NeedBody,
    /// Fetch these and pass each answer to `onFetchResponse`; when empty, another request's
    /// fetch is in flight: wait for it. Then call `resume`.
    Fetch {
        /// Requests to start.
        requests: Vec<FetchRequest>,
    },
}

/// What to do with response headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseOutcome {
    /// Header names to delete.
    pub remove_headers: Vec<String>,
    /// Headers to set (replace).
    pub set_headers: Vec<(String, String)>,
    /// Header values to append.
    pub add_headers: Vec<(String, String)>,
    /// Read the whole body and pass it to `onResponseBody` (masking); otherwise stream it.
    pub need_body: bool,
}

/// What to do with a response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum BodyOutcome {
    /// Send the body unchanged.
    Continue,
    /// Send this body instead (e.g. masked); drop any `content-length`.
    Replace {
        /// New body (attached as a `Uint8Array` by the bindings).
        #[serde(skip)]
        body: Vec<u8>,
    },
    /// Send this response instead of the origin's (e.g. a body that cannot be masked safely).
    Respond {
        /// Status.
        status: u16,
        /// Response headers.
        headers: Vec<(String, String)>,
        /// Machine-readable reason.
        reason: String,
        /// Body (attached as a `Uint8Array` by the bindings).
        #[serde(skip)]
        body: Vec<u8>,
    },
}

/// Per-request state on the JS side (the `RequestStream` handle).
#[derive(Debug, Default)]
pub struct JsStream {
    inner: Stream,
    response_buffering: bool,
}

/// The engine plus its isolate host.
#[derive(Debug)]
pub struct JsEngine {
    engine: Engine,
    host: JsHost,
    last_tick_nanos: Cell<u64>,
}

/// The startup log line: the mode, and that rate limits and replay caches are per isolate here.
fn log_startup(engine: &Engine, host: &dyn Host) {
    crate::log::event(
        host,
        LogLevel::Info,
        "config_loaded",
        &[
            ("host", json!("js")),
            ("mode", json!(format!("{:?}", engine.mode()).to_lowercase())),
            ("state_scope", json!("isolate")),
            (
                "note",
                json!(
                    "rate limits, lockouts, replay caches and JWKS caches are per isolate in \
                     the JS build, not shared across isolates or locations"
                ),
            ),
        ],
    );
}

impl JsEngine {
    /// Compile a JSON config (the same one Envoy uses) and log the startup line. `{"env":
    /// NAME}` references resolve from `env` only (the worker's string bindings); a missing one
    /// is a config error naming the field.
    pub fn from_json(
        config: &[u8],
        env: BTreeMap<String, String>,
        sink: LogSink,
    ) -> Result<JsEngine, ConfigError> {
        let host = JsHost::new(sink);
        let compiled = crate::environment::with_vars(env, || Engine::from_json(config));
        let engine = match compiled {
            Ok(e) => e,
            Err(e) => {
                host.log(LogLevel::Critical, &e.to_string());
                return Err(e);
            }
        };
        log_startup(&engine, &host);
        Ok(JsEngine {
            engine,
            host,
            last_tick_nanos: Cell::new(0),
        })
    }

    /// The isolate host (metrics, clock).
    pub fn host(&self) -> &JsHost {
        &self.host
    }

    /// Counters so far, by name.
    pub fn metrics(&self) -> BTreeMap<String, i64> {
        self.host.metrics()
    }

    /// Set the clock and run the periodic work when due.
    fn advance(&self, now_ms: f64) {
        self.host.set_now_ms(now_ms);
        let now = self.host.now_nanos();
        if now.saturating_sub(self.last_tick_nanos.get()) >= TICK_INTERVAL_NANOS {
            self.last_tick_nanos.set(now);
            self.engine.on_tick(&self.host);
        }
    }

    /// Request headers arrived.
    pub fn on_request(&self, stream: &mut JsStream, req: RequestInput) -> RequestOutcome {
        self.advance(req.now);
        let connection = ConnectionInfo {
            source_ip: req
                .client_ip
                .as_deref()
                .and_then(|ip| ip.trim().parse::<IpAddr>().ok()),
            ..ConnectionInfo::default()
        };
        let parts = match split_url(&req.url) {
            Ok(p) => p,
            Err(e) => {
                let action = self.engine.on_malformed_request(
                    &mut stream.inner,
                    &req.method,
                    &req.url,
                    crate::request::RequestError::PathNotAbsolute,
                    &self.host,
                );
                self.host.log(LogLevel::Debug, e.message());
                return self.request_outcome(stream, action);
            }
        };
        let scheme = parts.scheme.to_ascii_lowercase();
        let action = match RequestView::new(
            &req.method,
            &scheme,
            parts.authority,
            &parts.path_and_query,
            req.headers,
            connection,
        ) {
            Ok(view) => self
                .engine
                .on_request_headers(&mut stream.inner, view, &self.host),
            Err(e) => self.engine.on_malformed_request(
                &mut stream.inner,
                &req.method,
                &parts.path_and_query,
                e,
                &self.host,
            ),
        };
        self.request_outcome(stream, action)
    }

    /// The whole request body, after a `needBody` answer.
    pub fn on_request_body(
        &self,
        stream: &mut JsStream,
        body: &[u8],
        now_ms: f64,
    ) -> RequestOutcome {
        self.advance(now_ms);
        let action = self
            .engine
            .on_request_body(&mut stream.inner, body, true, &self.host);
        self.request_outcome(stream, action)
    }

    /// The answer to a `fetch` request (status 0: the fetch failed or timed out). Engine-wide:
    /// it may unblock several paused requests, each of which then calls [`JsEngine::resume`].
    /// Returns whether the engine was waiting for this token.
    pub fn on_fetch_response(&self, token: u32, resp: ResponseInput, body: &[u8]) -> bool {
        self.advance(resp.now);
        let headers = lowercase(resp.headers);
        self.engine
            .on_http_call_response(token, resp.status, &headers, body, &self.host)
    }

    /// Ask again after another request's fetch completed.
    pub fn resume(&self, stream: &mut JsStream, now_ms: f64) -> RequestOutcome {
        self.advance(now_ms);
        let action = self.engine.resume(&mut stream.inner, &self.host);
        self.request_outcome(stream, action)
    }

    fn request_outcome(&self, stream: &JsStream, action: RequestAction) -> RequestOutcome {
        match action {
            RequestAction::Continue(m) => {
                let HeaderMutations { remove, set, add } = m;
                RequestOutcome::Continue {
                    remove_headers: remove,
                    set_headers: set,
                    add_headers: add,
                    rule: stream
                        .inner
                        .rule
                        .and_then(|i| self.engine.rule_name(i))
                        .unwrap_or("-")
                        .to_string(),
                }
            }
            RequestAction::Respond(reply) => {
                let LocalReply {
                    status,
                    reason,
                    headers,
                    body,
                } = reply;
                RequestOutcome::Respond {
                    status,
                    headers,
                    reason: reason.to_string(),
                    body,
                }
            }
            RequestAction::NeedBody => RequestOutcome::NeedBody,
            RequestAction::Pause => RequestOutcome::Fetch {
                requests: self
                    .host
                    .take_pending_calls()
                    .into_iter()
                    .map(|(token, call)| fetch_request(token, call))
                    .collect(),
            },
        }
    }

    /// Response status and headers from the origin (or from our own local reply).
    pub fn on_response(&self, stream: &mut JsStream, resp: ResponseInput) -> ResponseOutcome {
        self.advance(resp.now);
        let mut headers = lowercase(resp.headers);
        headers.push((":status".to_string(), resp.status.to_string()));
        let action = self
            .engine
            .on_response_headers(&mut stream.inner, &headers, &self.host);
        stream.response_buffering = action.buffer_body;
        let HeaderMutations { remove, set, add } = action.mutations;
        ResponseOutcome {
            remove_headers: remove,
            set_headers: set,
            add_headers: add,
            need_body: action.buffer_body,
        }
    }

    /// The whole response body, after `needBody: true`.
    pub fn on_response_body(&self, stream: &mut JsStream, body: &[u8], now_ms: f64) -> BodyOutcome {
        self.advance(now_ms);
        if !stream.response_buffering {
            return BodyOutcome::Continue;
        }
        stream.response_buffering = false;
        match self
            .engine
            .on_response_body(&mut stream.inner, body, true, &self.host)
        {
            ResponseBodyAction::Continue | ResponseBodyAction::Buffer => BodyOutcome::Continue,
            ResponseBodyAction::Replace(body) => BodyOutcome::Replace { body },
            ResponseBodyAction::Respond(reply) => BodyOutcome::Respond {
                status: reply.status,
                headers: reply.headers,
                reason: reply.reason.to_string(),
                body: reply.body,
            },
        }
    }
}

fn lowercase(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

fn fetch_request(token: u32, call: crate::host::HttpCallout) -> FetchRequest {
    let pseudo = |name: &str| {
        call.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let scheme = pseudo(":scheme").unwrap_or("https");
    let authority = pseudo(":authority").unwrap_or(call.cluster.as_str());
    let path = pseudo(":path").unwrap_or("/");
    let method = pseudo(":method").unwrap_or("GET").to_string();
    let url = format!("{scheme}://{authority}{path}");
    FetchRequest {
        token,
        method,
        url,
        headers: call
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .cloned()
            .collect(),
        timeout_ms: call.timeout_ms,
        body: call.body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HttpCallout;
    use std::cell::RefCell;

    thread_local! {
        static LOGS: RefCell<Vec<(LogLevel, String)>> = const { RefCell::new(Vec::new()) };
    }

    fn sink(level: LogLevel, msg: &str) {
        LOGS.with(|l| l.borrow_mut().push((level, msg.to_string())));
    }

    fn take_logs() -> Vec<(LogLevel, String)> {
        LOGS.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }

    const NOW: f64 = 1_790_000_000_000.0;

    fn req(method: &str, url: &str) -> RequestInput {
        RequestInput {
            method: method.into(),
            url: url.into(),
            headers: vec![("X-Request-Id".into(), "r1".into())],
            client_ip: Some("203.0.113.7".into()),
            now: NOW,
        }
    }

    fn engine(config: &str) -> JsEngine {
        JsEngine::from_json(config.as_bytes(), BTreeMap::new(), sink).unwrap()
    }

    const ROUTES: &str = r#"{"rules":[
        {"name":"admin","match":{"prefix":"/admin"}},
        {"name":"api","match":{"prefix":"/api/"}}]}"#;

    #[test]
    fn config_error_is_returned_with_its_path_and_logged() {
        take_logs();
        let err = JsEngine::from_json(
            br#"{"rules":[{"match":{"prefix":"admin"}}]}"#,
            BTreeMap::new(),
            sink,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config error at rules[0].match.prefix: must start with \"/\""
        );
        let logs = take_logs();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].0, LogLevel::Critical);
        assert_eq!(logs[0].1, err.to_string());
    }

    const PEPPERED: &str = r#"{"api_keys":{"hash":"hmac_sha256",
        "pepper":{"env":"EG_PEPPER"},"keys":[]}}"#;

    #[test]
    fn env_references_resolve_from_the_worker_bindings_only() {
        let env = BTreeMap::from([("EG_PEPPER".to_string(), "pepper-for-tests".to_string())]);
        assert!(JsEngine::from_json(PEPPERED.as_bytes(), env, sink).is_ok());
        // Not from the process environment: a binding the worker did not pass is missing.
        std::env::set_var("EG_PEPPER", "from-the-process");
        take_logs();
        let err = JsEngine::from_json(PEPPERED.as_bytes(), BTreeMap::new(), sink).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config error at api_keys.pepper.env: environment variable EG_PEPPER is not set"
        );
        assert!(take_logs()
            .iter()
            .all(|(_, l)| !l.contains("from-the-process")));
    }

    #[test]
    fn startup_line_says_state_is_per_isolate() {
        take_logs();
        let _e = engine(r#"{"mode":"report"}"#);
        let logs = take_logs();
        let line: serde_json::Value = serde_json::from_str(&logs[0].1).unwrap();
        assert_eq!(line["event"], "config_loaded");
        assert_eq!(line["mode"], "report");
        assert_eq!(line["state_scope"], "isolate");
        assert!(line["note"].as_str().unwrap().contains("per isolate"));
    }

    #[test]
    fn routing_uses_the_normalized_path_of_the_raw_url() {
        let e = engine(ROUTES);
        for (url, rule) in [
            ("https://api.example.com/admin/users", "admin"),
            ("https://api.example.com/x/../%61dmin", "admin"),
            ("https://api.example.com//admin", "admin"),
            ("https://api.example.com/api/v1?x=1", "api"),
            ("https://api.example.com/public", "-"),
        ] {
            let mut s = JsStream::default();
            match e.on_request(&mut s, req("GET", url)) {
                RequestOutcome::Continue { rule: r, .. } => assert_eq!(r, rule, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert_eq!(e.metrics().get("edgeguard_requests_total"), Some(&5));
    }

    #[test]
    fn bad_percent_encoding_is_a_json_400() {
        let e = engine(ROUTES);
        let mut s = JsStream::default();
        let RequestOutcome::Respond {
            status,
            headers,
            reason,
            body,
        } = e.on_request(&mut s, req("GET", "https://h/a%zz"))
        else {
            panic!("expected a local reply")
        };
        assert_eq!((status, reason.as_str()), (400, "bad_request"));
        assert!(headers.contains(&("content-type".into(), "application/json".into())));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "request path has invalid percent-encoding");
        assert_eq!(
            e.metrics().get("edgeguard_denied_bad_request_total"),
            Some(&1)
        );
    }

    #[test]
    fn report_mode_lets_the_bad_request_through() {
        let e = engine(r#"{"mode":"report"}"#);
        let mut s = JsStream::default();
        let out = e.on_request(&mut s, req("GET", "https://h/a%zz"));
        assert!(matches!(out, RequestOutcome::Continue { .. }), "{out:?}");
        assert_eq!(e.metrics().get("edgeguard_reported_total"), Some(&1));
        let resp = e.on_response(
            &mut s,
            ResponseInput {
                status: 200,
                headers: vec![],
                now: NOW,
            },
        );
        assert!(resp.set_headers.is_empty() && !resp.need_body);
    }

    #[test]
    fn outcomes_serialize_in_the_documented_js_shape() {
        let out = RequestOutcome::Continue {
            remove_headers: vec!["x-a".into()],
            set_headers: vec![("x-b".into(), "1".into())],
            add_headers: vec![],
            rule: "api".into(),
        };
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"action":"continue","removeHeaders":["x-a"],"setHeaders":[["x-b","1"]],
                   "addHeaders":[],"rule":"api"})
        );
        assert_eq!(
            serde_json::to_value(RequestOutcome::NeedBody).unwrap(),
            json!({"action":"needBody"})
        );
        let input: RequestInput = serde_json::from_value(json!({
            "method":"GET","url":"https://h/","headers":[["a","b"]],"clientIp":"::1","now":1.0
        }))
        .unwrap();
        assert_eq!(input.client_ip.as_deref(), Some("::1"));
        assert!(serde_json::from_value::<RequestInput>(
            json!({"method":"GET","url":"x","now":1,"bogus":1})
        )
        .is_err());
    }

    #[test]
    fn paused_requests_become_fetches_with_absolute_urls() {
        let e = engine("{}");
        e.host()
            .http_call(&HttpCallout {
                cluster: "idp".into(),
                headers: vec![
                    (":method".into(), "GET".into()),
                    (":path".into(), "/.well-known/jwks.json".into()),
                    (":authority".into(), "idp.example.com".into()),
                    ("accept".into(), "application/json".into()),
                ],
                body: vec![],
                timeout_ms: 2000,
            })
            .unwrap();
        let s = JsStream::default();
        let RequestOutcome::Fetch { requests } = e.request_outcome(&s, RequestAction::Pause) else {
            panic!("expected fetch")
        };
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0].url,
            "https://idp.example.com/.well-known/jwks.json"
        );
        assert_eq!(requests[0].method, "GET");
        assert_eq!(
            requests[0].headers,
            [("accept".to_string(), "application/json".to_string())]
        );
        assert_eq!(requests[0].timeout_ms, 2000);
        // A second paused request with nothing new to fetch waits for the first one's fetch.
        assert_eq!(
            e.request_outcome(&s, RequestAction::Pause),
            RequestOutcome::Fetch { requests: vec![] }
        );
    }

    #[test]
    fn unbuffered_response_bodies_are_left_alone() {
        let e = engine("{}");
        let mut s = JsStream::default();
        e.on_request(&mut s, req("GET", "https://h/x"));
        let r = e.on_response(
            &mut s,
            ResponseInput {
                status: 200,
                headers: vec![("Content-Type".into(), "application/json".into())],
                now: NOW,
            },
        );
        assert!(!r.need_body);
        assert_eq!(
            e.on_response_body(&mut s, b"{}", NOW),
            BodyOutcome::Continue
        );
    }
}
